//! Analytics that last: a clean stop loses nothing, `kill -9` at most the last 5 s, retention
//! deletes old minutes, `--no-analytics` records nothing, `progress` after a minute, and a
//! node on PostgreSQL keeps its analytics there.

mod analytics_support;
mod common;

use analytics_support::*;
use common::{postgres_database, zone_and_token, zone_and_token_with, Node};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// The disconnect count and bytes of `app` over the last day.
async fn disconnects(api: &Api, app: &str) -> Vec<f64> {
    let since = (chrono::Utc::now() - chrono::Duration::days(1)).to_rfc3339();
    let filter = format!("appID=={app};event==disconnect");
    let rows = api
        .summary(&[
            ("metrics", "count,bytesIngress"),
            ("filters", &filter),
            ("since", &since),
        ])
        .await;
    rows.first().map(|(_, m)| m.clone()).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_stop_loses_nothing_and_kill_9_at_most_the_last_5_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let (node, api) = node(dir.path(), &[]);
    let id = api
        .create(app(
            "tcp/7321",
            "127.71.0.3",
            &format!("tcp://{}", origin().await),
        ))
        .await;
    let edge: SocketAddr = "127.71.0.3:7321".parse().unwrap();
    exchange(edge, Duration::ZERO).await;
    exchange(edge, Duration::ZERO).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    node.signal("-TERM");
    let mut node = node;
    node.child.wait().unwrap();

    let restarted = Node::with(dir.path(), &[]);
    let api = Api {
        base: restarted.base.clone(),
        ..api
    };
    assert_eq!(
        disconnects(&api, &id).await,
        [2.0, 200.0],
        "SIGTERM lost nothing"
    );
    exchange(edge, Duration::ZERO).await;
    // Written within 5 s of happening (the issue allows 10): what is 7 s old survives a kill -9.
    tokio::time::sleep(Duration::from_secs(7)).await;
    restarted.signal("-KILL");
    drop(restarted);
    let again = Node::with(dir.path(), &[]);
    let api = Api {
        base: again.base.clone(),
        ..api
    };
    assert_eq!(disconnects(&api, &id).await, [3.0, 300.0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_deletes_older_minutes_and_no_analytics_records_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (zone, token) = zone_and_token(dir.path());
    {
        use model::analytics::{Aggregate, EventKind, MinuteRow, SeriesKey};
        let store = store::SqliteStore::open(dir.path()).unwrap();
        let now = chrono::Utc::now().timestamp();
        let row = |age: i64| MinuteRow {
            minute: model::analytics::minute_of(now - age),
            key: SeriesKey {
                zone_id: zone.clone(),
                app_id: "a".repeat(32),
                event: EventKind::Connect,
                colo: "OLD".into(),
                ip_version: 4,
            },
            aggregate: Aggregate {
                count: age as u64,
                ..Aggregate::default()
            },
        };
        use store::Store;
        store
            .save_analytics("gone-node", &[row(7200), row(1800)])
            .unwrap();
    }
    let node = Node::with(
        dir.path(),
        &["--analytics-retention", "1h", "--no-analytics"],
    );
    let api = Api {
        base: node.base.clone(),
        zone,
        token,
    };
    let since = (chrono::Utc::now() - chrono::Duration::hours(3)).to_rfc3339();
    let mut counts = Vec::new();
    for _ in 0..50 {
        counts = api.summary(&[("since", &since)]).await;
        if counts.first().map(|r| r.1[0]) == Some(1800.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        counts,
        [(vec![], vec![1800.0])],
        "the 2-hour-old minute went, the 30-minute-old one stayed"
    );

    // --no-analytics: traffic leaves no events.
    api.create(app(
        "tcp/7331",
        "127.71.0.4",
        &format!("tcp://{}", origin().await),
    ))
    .await;
    exchange("127.71.0.4:7331".parse().unwrap(), Duration::ZERO).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let recent = api.summary(&[("filters", "coloName==LOC")]).await;
    assert!(recent.is_empty(), "{recent:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_and_flows_open_a_minute_report_progress_with_the_bytes_since() {
    let dir = tempfile::tempdir().unwrap();
    let (_node, api) = node(dir.path(), &["--udp-idle-timeout", "120"]);
    let tcp = api
        .create(app(
            "tcp/7341",
            "127.71.0.5",
            &format!("tcp://{}", origin().await),
        ))
        .await;
    let udp = api
        .create(app(
            "udp/7342",
            "127.71.0.5",
            &format!("udp://{}", udp_echo().await),
        ))
        .await;
    let mut s = None;
    for _ in 0..100 {
        if let Ok(c) = TcpStream::connect("127.71.0.5:7341").await {
            s = Some(c);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut s = s.unwrap();
    s.write_all(&[1u8; 100]).await.unwrap();
    within(s.read_exact(&mut [0u8; 250])).await;
    udp_bound("127.71.0.5:7342").await;
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    client.send_to(&[5u8; 40], "127.71.0.5:7342").await.unwrap();
    within(client.recv_from(&mut [0u8; 100])).await;

    tokio::time::sleep(Duration::from_secs(62)).await;
    s.write_all(&[1u8; 30]).await.unwrap();
    client.send_to(&[5u8; 40], "127.71.0.5:7342").await.unwrap();
    within(client.recv_from(&mut [0u8; 100])).await;
    drop(s);
    tokio::time::sleep(Duration::from_millis(500)).await;

    let rows = api
        .summary(&[
            ("dimensions", "appID,event"),
            ("metrics", "count,bytesIngress,bytesEgress"),
        ])
        .await;
    let find = |app: &str, event: &str| metrics_of(&rows, app, event);
    assert_eq!(find(&tcp, "progress"), [1.0, 100.0, 250.0]);
    assert_eq!(
        find(&tcp, "disconnect"),
        [1.0, 30.0, 0.0],
        "the bytes since the progress"
    );
    assert_eq!(find(&udp, "progress"), [1.0, 40.0, 40.0]);
    let filter = format!("appID=={tcp}");
    let total = api
        .summary(&[
            ("metrics", "bytesIngress,bytesEgress"),
            ("filters", &filter),
        ])
        .await;
    assert_eq!(
        total[0].1,
        [130.0, 250.0],
        "a connection's events add up to its bytes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_on_postgres_keeps_its_analytics_there() {
    let Some(url) = postgres_database().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let store = ["--store", url.as_str()];
    let (zone, token) = zone_and_token_with(dir.path(), &store);
    let mut node = Node::with(dir.path(), &store);
    let api = Api {
        base: node.base.clone(),
        zone,
        token,
    };
    let id = api
        .create(app(
            "tcp/7351",
            "127.71.0.6",
            &format!("tcp://{}", origin().await),
        ))
        .await;
    let edge: SocketAddr = "127.71.0.6:7351".parse().unwrap();
    exchange(edge, Duration::ZERO).await;
    exchange(edge, Duration::ZERO).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    node.signal("-TERM");
    node.child.wait().unwrap();

    // Another node, on a data dir of its own, reads them from the database.
    let fresh = tempfile::tempdir().unwrap();
    let other = Node::with(fresh.path(), &store);
    let api = Api {
        base: other.base.clone(),
        ..api
    };
    assert_eq!(disconnects(&api, &id).await, [2.0, 200.0]);
}
