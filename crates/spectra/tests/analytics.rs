//! Analytics through `spectra serve`: known traffic through TCP and UDP apps, then exact
//! counts, byte sums and durations from the analytics API; the data across a clean restart and
//! a kill -9; retention; `--no-analytics`; `--colo`; bad queries.

mod common;

use common::{send, zone_and_token, Node};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

/// An origin that reads 100 bytes, answers 250, then waits for the client to close.
async fn origin() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut got = [0u8; 100];
                if s.read_exact(&mut got).await.is_ok() {
                    let _ = s.write_all(&[7u8; 250]).await;
                    let mut rest = [0u8; 64];
                    while matches!(s.read(&mut rest).await, Ok(n) if n > 0) {}
                }
            });
        }
    });
    addr
}

async fn udp_echo() -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 2048];
        while let Ok((n, from)) = socket.recv_from(&mut buf).await {
            let _ = socket.send_to(&buf[..n], from).await;
        }
    });
    addr
}

/// One connection through `edge`: 100 bytes up, 250 down, held `hold` before closing.
async fn exchange(edge: SocketAddr, hold: Duration) {
    let mut s = None;
    for _ in 0..100 {
        if let Ok(c) = TcpStream::connect(edge).await {
            s = Some(c);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut s = s.expect("the edge listens");
    s.write_all(&[1u8; 100]).await.unwrap();
    let mut got = [0u8; 250];
    s.read_exact(&mut got).await.unwrap();
    tokio::time::sleep(hold).await;
}

fn app(protocol: &str, edge: &str, origin: &str) -> Value {
    json!({
        "protocol": protocol,
        "dns": {"type": "ADDRESS", "name": format!("{}.example.com", protocol.replace('/', "-"))},
        "origin_direct": [origin],
        "edge_ips": {"type": "static", "ips": [edge]},
    })
}

struct Api {
    base: String,
    zone: String,
    token: String,
}

impl Api {
    async fn get(&self, path: &str, query: &[(&str, &str)]) -> (StatusCode, Value) {
        send(
            reqwest::Client::new()
                .get(format!(
                    "{}/zones/{}/spectrum/analytics/{path}",
                    self.base, self.zone
                ))
                .query(query)
                .bearer_auth(&self.token),
        )
        .await
    }

    async fn create(&self, app: Value) -> String {
        let (status, body) = send(
            reqwest::Client::new()
                .post(format!("{}/zones/{}/spectrum/apps", self.base, self.zone))
                .bearer_auth(&self.token)
                .json(&app),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["result"]["id"].as_str().unwrap().to_owned()
    }

    /// `summary` rows as (dimension values, metric values).
    async fn summary(&self, query: &[(&str, &str)]) -> Vec<(Vec<String>, Vec<f64>)> {
        let (status, body) = self.get("events/summary", query).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["result"]["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|row| {
                let dims = row["dimensions"].as_array().unwrap();
                let metrics = row["metrics"].as_array().unwrap();
                (
                    dims.iter()
                        .map(|d| d.as_str().unwrap().to_owned())
                        .collect(),
                    metrics.iter().map(|m| m.as_f64().unwrap()).collect(),
                )
            })
            .collect()
    }
}

fn node(dir: &std::path::Path, extra: &[&str]) -> (Node, Api) {
    let (zone, token) = zone_and_token(dir);
    let node = Node::with(dir, extra);
    let api = Api {
        base: node.base.clone(),
        zone,
        token,
    };
    (node, api)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_and_udp_traffic_is_counted_exactly_with_durations_colo_and_ip_version() {
    let dir = tempfile::tempdir().unwrap();
    let (_node, api) = node(dir.path(), &["--colo", "SF7", "--udp-idle-timeout", "0.5"]);
    let tcp = api
        .create(app(
            "tcp/7301",
            "127.71.0.1",
            &format!("tcp://{}", origin().await),
        ))
        .await;
    let v6 = api
        .create(app("tcp/7302", "::1", &format!("tcp://{}", origin().await)))
        .await;
    let udp = api
        .create(app(
            "udp/7303",
            "127.71.0.1",
            &format!("udp://{}", udp_echo().await),
        ))
        .await;
    let refused = api
        .create(app("tcp/7304", "127.71.0.1", "tcp://127.0.0.1:9"))
        .await;

    for ms in [100, 200, 300] {
        exchange(
            "127.71.0.1:7301".parse().unwrap(),
            Duration::from_millis(ms),
        )
        .await;
    }
    exchange("[::1]:7302".parse().unwrap(), Duration::ZERO).await;
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut echoed = 0;
    for _ in 0..3 {
        client.send_to(&[5u8; 40], "127.71.0.1:7303").await.unwrap();
        let mut buf = [0u8; 100];
        if let Ok(Ok((n, _))) =
            tokio::time::timeout(Duration::from_secs(2), client.recv_from(&mut buf)).await
        {
            echoed += n;
        }
    }
    assert_eq!(echoed, 120);
    let mut s = TcpStream::connect("127.71.0.1:7304").await.unwrap();
    let _ = s.read(&mut [0u8; 1]).await;
    // The UDP flow ends after 0.5 s without a datagram (checked every 0.5 s).
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let rows = api
        .summary(&[
            ("dimensions", "appID"),
            ("dimensions", "event"),
            ("metrics", "count,bytesIngress,bytesEgress"),
            ("metrics", "durationMedian"),
            ("sort", "+appID"),
            ("sort", "+event"),
        ])
        .await;
    let find = |app: &str, event: &str| {
        rows.iter()
            .find(|(d, _)| d[0] == app && d[1] == event)
            .map(|(_, m)| m.clone())
            .unwrap_or_else(|| panic!("no {event} row for {app}: {rows:?}"))
    };
    assert_eq!(find(&tcp, "connect")[..3], [3.0, 0.0, 0.0]);
    let ended = find(&tcp, "disconnect");
    assert_eq!(
        ended[..3],
        [3.0, 300.0, 750.0],
        "bytesIngress = client to edge"
    );
    // The middle connection was held 200 ms (the sketch's 1 % and the round trips on top).
    assert!((198.0..300.0).contains(&ended[3]), "median {}", ended[3]);
    assert_eq!(find(&udp, "connect")[0], 1.0);
    assert_eq!(
        find(&udp, "disconnect")[..3],
        [1.0, 120.0, 120.0],
        "UDP payload bytes"
    );
    assert_eq!(find(&refused, "originError")[..3], [1.0, 0.0, 0.0]);
    assert_eq!(find(&v6, "disconnect")[..3], [1.0, 100.0, 250.0]);

    let by_version = api
        .summary(&[
            ("dimensions", "ipVersion,coloName"),
            ("filters", "event==disconnect"),
        ])
        .await;
    assert_eq!(
        by_version,
        [
            (vec!["4".to_owned(), "SF7".to_owned()], vec![4.0]),
            (vec!["6".to_owned(), "SF7".to_owned()], vec![1.0]),
        ]
    );
    let (status, body) = api
        .get(
            "aggregate/current",
            &[("appID", &tcp), ("colo_name", "SF7")],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let current = &body["result"][0];
    assert_eq!(current["appID"], tcp.as_str());
    assert_eq!(
        (
            current["bytesIngress"].as_u64(),
            current["bytesEgress"].as_u64()
        ),
        (Some(300), Some(750))
    );
    assert_eq!(current["connections"], 0);
    let avg = current["durationAvg"].as_f64().unwrap();
    assert!((200.0..300.0).contains(&avg), "durationAvg {avg}");
    // The CLI: per app, connections, bytes and percentiles; a table, or JSON.
    let cli = |extra: &[&str]| {
        let out = std::process::Command::new(common::BIN)
            .args([
                "analytics",
                "--api-url",
                &api.base,
                "--token",
                &api.token,
                "--zone",
                "example.com",
            ])
            .args(extra)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let rows: Value = serde_json::from_str(&cli(&["--since", "1h", "--output-json"])).unwrap();
    let line = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["appID"] == tcp.as_str())
        .unwrap();
    assert_eq!(line["hostname"], "tcp-7301.example.com");
    assert_eq!(
        (line["connections"].as_f64(), line["bytesIngress"].as_f64()),
        (Some(3.0), Some(300.0))
    );
    assert_eq!(line["bytesEgress"].as_f64(), Some(750.0));
    let p50 = line["durationMedian"].as_f64().unwrap();
    assert!((198.0..300.0).contains(&p50), "{p50}");
    let table = cli(&["--app", &udp]);
    assert!(table.starts_with("APP "), "{table}");
    assert_eq!(table.lines().count(), 2, "only the app asked for: {table}");
    assert!(
        table.contains("udp-7303.example.com") && table.contains(" 120 "),
        "{table}"
    );
    let (_, other_colo) = api
        .get(
            "aggregate/current",
            &[("appID", &tcp), ("colo_name", "LHR")],
        )
        .await;
    assert_eq!(other_colo["result"][0]["bytesIngress"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_connection_counts_in_current_and_bad_queries_are_400() {
    let dir = tempfile::tempdir().unwrap();
    let (_node, api) = node(dir.path(), &[]);
    let id = api
        .create(app(
            "tcp/7311",
            "127.71.0.2",
            &format!("tcp://{}", origin().await),
        ))
        .await;
    let edge: SocketAddr = "127.71.0.2:7311".parse().unwrap();
    let held = tokio::spawn(exchange(edge, Duration::from_secs(3)));
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let (_, body) = api.get("aggregate/current", &[]).await;
    assert_eq!(body["result"][0]["appID"], id.as_str(), "{body}");
    assert_eq!(body["result"][0]["connections"], 1, "{body}");
    held.await.unwrap();

    for (path, query, code, says) in [
        ("events/summary", vec![("metrics", "bytes")], 1500, "bytes"),
        ("events/summary", vec![("dimensions", "host")], 1501, "host"),
        (
            "events/summary",
            vec![("filters", "event=connect")],
            1502,
            "comparison",
        ),
        (
            "events/summary",
            vec![("metrics", "count"), ("sort", "-bytesIngress")],
            1503,
            "bytesIngress",
        ),
        (
            "events/summary",
            vec![
                ("since", "2026-12-01T10:00:00Z"),
                ("until", "2026-12-01T09:00:00Z"),
            ],
            1504,
            "after",
        ),
        ("events/bytime", vec![], 1505, "time_delta"),
        (
            "events/bytime",
            vec![("time_delta", "fortnight")],
            1505,
            "fortnight",
        ),
    ] {
        let (status, body) = api.get(path, &query).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query:?}: {body}");
        assert_eq!(body["errors"][0]["code"], code, "{query:?}: {body}");
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains(says),
            "{body}"
        );
    }
}

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
    // Written within 5 s of happening: what is 6 s old survives a kill -9.
    tokio::time::sleep(Duration::from_secs(6)).await;
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
    s.read_exact(&mut [0u8; 250]).await.unwrap();
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    client.send_to(&[5u8; 40], "127.71.0.5:7342").await.unwrap();
    client.recv_from(&mut [0u8; 100]).await.unwrap();

    tokio::time::sleep(Duration::from_secs(62)).await;
    s.write_all(&[1u8; 30]).await.unwrap();
    client.send_to(&[5u8; 40], "127.71.0.5:7342").await.unwrap();
    client.recv_from(&mut [0u8; 100]).await.unwrap();
    drop(s);
    tokio::time::sleep(Duration::from_millis(500)).await;

    let rows = api
        .summary(&[
            ("dimensions", "appID,event"),
            ("metrics", "count,bytesIngress,bytesEgress"),
        ])
        .await;
    let find = |app: &str, event: &str| {
        rows.iter()
            .find(|(d, _)| d[0] == app && d[1] == event)
            .map(|(_, m)| m.clone())
            .unwrap_or_else(|| panic!("no {event} row for {app}: {rows:?}"))
    };
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
