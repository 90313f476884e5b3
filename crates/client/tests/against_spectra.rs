//! The client against a real Spectra API on loopback: the app lifecycle, auto-paging over more
//! than 100 apps, protocols, and every error class with Cloudflare's codes.

use client::{Client, Credentials, Error, ListParams};
use futures_util::TryStreamExt;
use model::{AppConfig, AppOrder, Direction, Permission};
use serde_json::json;
use std::collections::HashSet;
use std::sync::Arc;
use store::{SqliteStore, Store};

struct Spectra {
    base: String,
    store: Arc<SqliteStore>,
    zone: String,
    _dir: tempfile::TempDir,
}

async fn spectra() -> Spectra {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path()).unwrap());
    let zone = store.create_zone("example.com").unwrap().id;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/client/v4", listener.local_addr().unwrap());
    let state = api::ApiState::new(store.clone(), model::Policy::default());
    tokio::spawn(api::serve(listener, state, std::future::pending()));
    Spectra {
        base,
        store,
        zone,
        _dir: dir,
    }
}

impl Spectra {
    fn client(&self, permissions: &[Permission]) -> Client {
        let (_, secret) = self.store.create_token("t", permissions, None).unwrap();
        Client::builder()
            .base_url(&self.base)
            .credentials(Credentials::Token(secret))
            .build()
            .unwrap()
    }
}

fn ssh(name: &str) -> AppConfig {
    AppConfig::from_json(json!({
        "protocol": "tcp/22", "dns": {"type": "CNAME", "name": name},
        "origin_direct": ["tcp://127.0.0.1:2222"], "traffic_type": "direct"
    }))
    .unwrap()
}

#[tokio::test]
async fn the_whole_app_lifecycle() {
    let s = spectra().await;
    let c = s.client(&[Permission::ZoneSettingsWrite]);
    let apps = c.spectrum().apps();
    let created = apps.create(&s.zone, &ssh("ssh.example.com")).await.unwrap();
    assert!(model::is_identifier(&created.id));
    assert_eq!(created.config, ssh("ssh.example.com"));
    let got = apps.get(&s.zone, &created.id).await.unwrap();
    assert_eq!(got, created);
    let moved = AppConfig::from_json(json!({
        "protocol": "tcp/2222", "dns": {"name": "ssh.example.com"},
        "origin_dns": {"name": "origin.example.com", "type": "A"}, "origin_port": 22, "tls": "full"
    }))
    .unwrap();
    let updated = apps.update(&s.zone, &created.id, &moved).await.unwrap();
    assert_eq!(updated.config, moved);
    assert_eq!(updated.created_on, created.created_on);
    let listed: Vec<_> = apps
        .list(&s.zone, ListParams::default())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(listed, vec![updated]);
    assert_eq!(apps.delete(&s.zone, &created.id).await.unwrap(), created.id);
    assert!(matches!(
        apps.get(&s.zone, &created.id).await,
        Err(Error::NotFound(_))
    ));
    let protocols = c.spectrum().protocols().list(&s.zone).await.unwrap();
    assert!(protocols.iter().any(|p| p.name == "ssh" && p.ports == [22]));
}

#[tokio::test]
async fn lists_page_through_more_than_a_hundred_apps() {
    let s = spectra().await;
    let c = s.client(&[Permission::ZoneSettingsWrite]);
    let apps = c.spectrum().apps();
    let mut ids = HashSet::new();
    for i in 0..130 {
        let mut config = ssh(&format!("h{i:03}.example.com"));
        config.protocol = model::Protocol::parse(&format!("tcp/{}", 1000 + i)).unwrap();
        config.origin = ssh("x.example.com").origin;
        ids.insert(apps.create(&s.zone, &config).await.unwrap().id);
    }
    let all: Vec<_> = apps
        .list(&s.zone, ListParams::default())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(all.len(), 130);
    assert_eq!(
        all.iter().map(|a| a.id.clone()).collect::<HashSet<_>>(),
        ids
    );
    let params = ListParams {
        order: Some(AppOrder::Protocol),
        direction: Some(Direction::Desc),
        page: None,
        per_page: Some(100),
    };
    let sorted: Vec<_> = apps.list(&s.zone, params).try_collect().await.unwrap();
    assert_eq!(sorted.len(), 130);
    assert_eq!(sorted[0].config.protocol.as_str(), "tcp/1129");
    let page = apps
        .list_page(
            &s.zone,
            ListParams {
                page: Some(2),
                per_page: Some(100),
                ..params
            },
        )
        .await
        .unwrap();
    assert_eq!((page.apps.len(), page.total_count), (30, Some(130)));
}

#[tokio::test]
async fn every_error_class_carries_the_cloudflare_code() {
    let s = spectra().await;
    let writer = s.client(&[Permission::ZoneSettingsWrite]);
    let reader = s.client(&[Permission::ZoneSettingsRead]);
    let apps = writer.spectrum().apps();
    apps.create(&s.zone, &ssh("a.example.com")).await.unwrap();

    let outside = ssh("a.example.org");
    match apps.create(&s.zone, &outside).await {
        Err(Error::BadRequest(e)) => {
            assert_eq!((e.status, e.code()), (400, Some(16001)));
            assert!(e.errors[0].message.contains("dns.name"), "{e}");
        }
        other => panic!("expected BadRequest, got {other:?}"),
    }
    match reader
        .spectrum()
        .apps()
        .create(&s.zone, &ssh("b.example.com"))
        .await
    {
        Err(Error::PermissionDenied(e)) => assert_eq!(e.code(), Some(10000)),
        other => panic!("expected PermissionDenied, got {other:?}"),
    }
    let stranger = Client::builder()
        .base_url(&s.base)
        .credentials(Credentials::Token("nope".into()))
        .build()
        .unwrap();
    match stranger
        .spectrum()
        .apps()
        .get(&s.zone, &"0".repeat(32))
        .await
    {
        Err(Error::Authentication(e)) => assert_eq!(e.code(), Some(1000)),
        other => panic!("expected Authentication, got {other:?}"),
    }
    match apps.get(&s.zone, &"0".repeat(32)).await {
        Err(e @ Error::NotFound(_)) => assert_eq!(e.api().unwrap().code(), Some(10006)),
        other => panic!("expected NotFound, got {other:?}"),
    }
    let (_, key) = s.store.create_user("ops@example.com").unwrap();
    let keyed = Client::builder()
        .base_url(&s.base)
        .credentials(Credentials::Key {
            email: "ops@example.com".into(),
            key,
        })
        .build()
        .unwrap();
    assert_eq!(
        keyed.zone_id("example.com").await.unwrap(),
        Some(s.zone.clone())
    );
    assert_eq!(keyed.zone_id("example.net").await.unwrap(), None);
}

#[test]
fn secrets_never_show_in_debug_output() {
    let token = Credentials::Token("very-secret-token".into());
    let key = Credentials::Key {
        email: "ops@example.com".into(),
        key: "very-secret-key".into(),
    };
    let client = Client::builder().credentials(key.clone()).build().unwrap();
    for text in [
        format!("{token:?}"),
        format!("{key:?}"),
        format!("{client:?}"),
    ] {
        assert!(!text.contains("very-secret"), "{text}");
    }
    assert!(matches!(Client::builder().build(), Err(Error::Config(_))));
}
