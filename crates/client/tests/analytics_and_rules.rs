//! The client's analytics and IP Access Rules calls against a real Spectra API on loopback
//! (analytics minutes written to its store, as a node's writer writes them).

use client::{Client, Credentials, EventsQuery, NewRule};
use model::analytics::{Aggregate, EventKind, MinuteRow, Sample, SeriesKey};
use model::{AccessRuleMode, Permission, RuleTarget};
use std::sync::Arc;
use store::{SqliteStore, Store};

async fn spectra() -> (String, Arc<SqliteStore>, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path()).unwrap());
    let zone = store.create_zone("example.com").unwrap().id;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/client/v4", listener.local_addr().unwrap());
    let state = api::ApiState::new(store.clone(), model::Policy::default());
    tokio::spawn(api::serve(listener, state, std::future::pending()));
    (base, store, zone, dir)
}

fn client(base: &str, store: &SqliteStore, permissions: &[Permission]) -> Client {
    let (_, secret) = store.create_token("t", permissions, None).unwrap();
    Client::builder()
        .base_url(base)
        .credentials(Credentials::Token(secret))
        .build()
        .unwrap()
}

fn row(zone: &str, app: &str, event: EventKind, minute: i64, bytes: u64, n: u64) -> MinuteRow {
    let mut aggregate = Aggregate::default();
    for _ in 0..n {
        aggregate.add(&Sample {
            bytes_ingress: bytes,
            bytes_egress: 2 * bytes,
            duration_ms: event.ends_connection().then_some(40.0),
        });
    }
    MinuteRow {
        minute,
        key: SeriesKey {
            zone_id: zone.into(),
            app_id: app.into(),
            event,
            colo: "AMS".into(),
            ip_version: 4,
        },
        aggregate,
    }
}

#[tokio::test]
async fn summary_bytime_and_current_read_what_the_nodes_wrote() {
    let (base, store, zone, _dir) = spectra().await;
    let now = model::analytics::minute_of(chrono::Utc::now().timestamp());
    let (a, b) = ("a".repeat(32), "b".repeat(32));
    store
        .save_analytics(
            "node-1",
            &[
                row(&zone, &a, EventKind::Disconnect, now, 10, 3),
                row(&zone, &b, EventKind::Disconnect, now - 3600, 1, 1),
            ],
        )
        .unwrap();
    let c = client(&base, &store, &[Permission::AnalyticsRead]);
    let analytics = c.spectrum().analytics();
    let query = EventsQuery {
        metrics: vec!["count".into(), "bytesEgress".into(), "durationAvg".into()],
        dimensions: vec!["appID".into()],
        sort: vec!["-count".into()],
        since: Some((chrono::Utc::now() - chrono::Duration::hours(2)).to_rfc3339()),
        ..EventsQuery::default()
    };
    let report = analytics.summary(&zone, &query).await.unwrap();
    assert_eq!(report.rows, 2.0);
    assert_eq!(report.data[0].dimensions, std::slice::from_ref(&a));
    assert_eq!(report.data[0].metrics, [3, 60, 40]);
    assert_eq!(report.totals["count"], 4.0);

    let filtered = EventsQuery {
        filters: Some(format!("appID=={b}")),
        ..query.clone()
    };
    let by_hour = analytics.bytime(&zone, &filtered, "hour").await.unwrap();
    let intervals = by_hour.time_intervals.unwrap();
    assert!((2..=3).contains(&intervals.len()), "{intervals:?}");
    let series = by_hour.data[0].metrics[0].as_array().unwrap();
    assert_eq!(series.len(), intervals.len());
    assert_eq!(series.iter().filter_map(|v| v.as_u64()).sum::<u64>(), 1);

    let current = analytics
        .current(&zone, std::slice::from_ref(&a), Some("AMS"))
        .await
        .unwrap();
    assert_eq!(current.len(), 1);
    assert_eq!(
        (current[0].bytes_ingress, current[0].duration_avg),
        (30.0, 40.0)
    );

    let bad = EventsQuery {
        metrics: vec!["nope".into()],
        ..EventsQuery::default()
    };
    let error = analytics.summary(&zone, &bad).await.unwrap_err();
    assert!(error.to_string().contains("1500"), "{error}");
}

#[tokio::test]
async fn access_rules_lifecycle() {
    let (base, store, zone, _dir) = spectra().await;
    let c = client(&base, &store, &[Permission::ZoneSettingsWrite]);
    let rules = c.access_rules();
    let created = rules
        .create(
            &zone,
            &NewRule {
                mode: AccessRuleMode::Block,
                target: RuleTarget::IpRange,
                value: "192.0.2.0/24".into(),
                notes: "test net".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (created.mode.as_str(), created.configuration.target.as_str()),
        ("block", "ip_range")
    );
    assert_eq!(
        rules.list(&zone).await.unwrap(),
        std::slice::from_ref(&created)
    );
    assert_eq!(rules.get(&zone, &created.id).await.unwrap(), created);
    let edited = rules
        .edit(&zone, &created.id, AccessRuleMode::Whitelist, "now allowed")
        .await
        .unwrap();
    assert_eq!(
        (edited.mode.as_str(), edited.notes.as_str()),
        ("whitelist", "now allowed")
    );
    assert_eq!(rules.delete(&zone, &created.id).await.unwrap(), created.id);
    assert!(rules.list(&zone).await.unwrap().is_empty());
    assert!(rules.get(&zone, &created.id).await.is_err());
}
