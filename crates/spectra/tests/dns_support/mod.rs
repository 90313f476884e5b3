//! Helpers of the DNS tests through `spectra serve`: API calls, apps, and answers awaited.
#![allow(dead_code)]

use crate::common::{send, Node};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

#[path = "../../../dns/tests/common/mod.rs"]
pub mod dns_common;

use dns_common::lookup;

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// One zone's apps and DNS records over one node's API.
pub struct Zone<'a> {
    pub node: &'a Node,
    pub token: &'a str,
    pub id: &'a str,
}

impl Zone<'_> {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = reqwest::Client::new()
            .request(
                method,
                format!("{}/zones/{}{path}", self.node.base, self.id),
            )
            .bearer_auth(self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let (status, body) = send(request).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["result"].clone()
    }

    /// Creates `app`; its id.
    pub async fn create(&self, app: Value) -> String {
        let created = self
            .call(reqwest::Method::POST, "/spectrum/apps", Some(app))
            .await;
        created["id"].as_str().unwrap().to_owned()
    }

    pub async fn update(&self, id: &str, app: Value) {
        let path = format!("/spectrum/apps/{id}");
        self.call(reqwest::Method::PUT, &path, Some(app)).await;
    }

    pub async fn delete(&self, id: &str) {
        let path = format!("/spectrum/apps/{id}");
        self.call(reqwest::Method::DELETE, &path, None).await;
    }

    /// The app's status extension.
    pub async fn status(&self, id: &str) -> Value {
        let path = format!("/spectrum/apps/{id}/status");
        self.call(reqwest::Method::GET, &path, None).await
    }

    /// `GET /dns_records`: (name, type, content, ttl) of each.
    pub async fn records(&self) -> Vec<(String, String, String, u64)> {
        let list = self.call(reqwest::Method::GET, "/dns_records", None).await;
        list.as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let text = |k: &str| r[k].as_str().unwrap().to_owned();
                (
                    text("name"),
                    text("type"),
                    text("content"),
                    r["ttl"].as_u64().unwrap(),
                )
            })
            .collect()
    }
}

/// How long until `name` answers `want` (A and AAAA) at `dns`, failing past `within`.
pub async fn answers_within(
    dns: SocketAddr,
    name: &str,
    want: &[&str],
    within: Duration,
) -> Duration {
    let want: Vec<IpAddr> = want.iter().map(|s| ip(s)).collect();
    let started = Instant::now();
    loop {
        let got = lookup(dns, name).await;
        if got == want {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "{name}: {got:?} after {within:?}, not {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn app(name: &str, port: u16, edge_ips: Value) -> Value {
    let kind = if edge_ips["type"] == "static" {
        "ADDRESS"
    } else {
        "CNAME"
    };
    json!({"protocol": format!("tcp/{port}"), "dns": {"type": kind, "name": name},
           "origin_direct": ["tcp://127.0.0.1:9"], "edge_ips": edge_ips})
}
