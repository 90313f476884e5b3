//! An API server on a port-0 loopback listener with its own store, and an HTTP helper for tests.
#![allow(dead_code)]

use model::{Permission, Zone};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::sync::Arc;
use store::{SqliteStore, Store};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub struct Server {
    pub base: String,
    pub store: Arc<SqliteStore>,
    pub zone: Zone,
    /// A token with every permission on every zone.
    pub admin: String,
    pub http: reqwest::Client,
    _dir: tempfile::TempDir,
    _stop: oneshot::Sender<()>,
}

pub const ALL: &[Permission] = &[
    Permission::ZoneSettingsRead,
    Permission::ZoneSettingsWrite,
    Permission::AnalyticsRead,
    Permission::ZoneWrite,
];

impl Server {
    pub async fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(dir.path()).unwrap());
        let zone = store.create_zone("example.com").unwrap();
        let (_, admin) = store.create_token("admin", ALL, None).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}/client/v4", listener.local_addr().unwrap());
        let state = api::ApiState::new(store.clone(), model::Policy::default());
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(api::serve(listener, state, async {
            let _ = stopped.await;
        }));
        Server {
            base,
            store,
            zone,
            admin,
            http: reqwest::Client::new(),
            _dir: dir,
            _stop: stop,
        }
    }

    /// A token's secret, covering one zone or (with `None`) every zone.
    pub fn token(&self, permissions: &[Permission], zone: Option<&str>) -> String {
        let zones = zone.map(|z| vec![z.to_owned()]);
        self.store
            .create_token("test", permissions, zones.as_deref())
            .unwrap()
            .1
    }

    /// `/zones/{zone}/spectrum/apps`, plus `rest`.
    pub fn apps(&self, rest: &str) -> String {
        format!("/zones/{}/spectrum/apps{rest}", self.zone.id)
    }

    /// Sends a request with the admin token and returns the status and the parsed envelope,
    /// after checking that every answer is a JSON envelope.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let token = self.admin.clone();
        self.call_as(method, path, Some(&token), body).await
    }

    pub async fn call_as(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        envelope(request.send().await.unwrap()).await
    }

    pub async fn create_app(&self, body: Value) -> Value {
        let (status, envelope) = self.call(Method::POST, &self.apps(""), Some(body)).await;
        assert_eq!(status, StatusCode::OK, "{envelope}");
        envelope["result"].clone()
    }
}

/// The status and body of a response, which must be a JSON envelope of the right kind.
pub async fn envelope(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let content_type = response.headers().get("content-type").cloned();
    let body: Value = response.json().await.expect("every answer is JSON");
    assert_eq!(content_type.unwrap(), "application/json");
    assert_eq!(body["success"], status.is_success(), "{body}");
    assert!(
        body["errors"].is_array() && body["messages"].is_array(),
        "{body}"
    );
    if !status.is_success() {
        assert!(body["result"].is_null());
        assert!(
            body["errors"][0]["code"].as_u64().unwrap() >= 1000,
            "{body}"
        );
        assert!(!body["errors"][0]["message"].as_str().unwrap().is_empty());
    }
    (status, body)
}

pub fn ssh_app(name: &str) -> Value {
    serde_json::json!({
        "protocol": "tcp/22",
        "dns": {"type": "CNAME", "name": name},
        "origin_direct": ["tcp://127.0.0.1:2222"],
        "traffic_type": "direct"
    })
}
