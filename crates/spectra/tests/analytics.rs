//! Analytics through `spectra serve`: known traffic through TCP and UDP apps, then exact
//! counts, byte sums and durations from the analytics API and the CLI; `--colo`; open
//! connections in `aggregate/current`, also after a drain cuts one; bad queries.

mod analytics_support;
mod common;

use analytics_support::*;
use common::send;
use reqwest::StatusCode;
use serde_json::Value;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpStream, UdpSocket};

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
    let find = |app: &str, event: &str| metrics_of(&rows, app, event);
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
    let rows: Value = serde_json::from_str(&cli(&["--since", "1h", "--json"])).unwrap();
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
    let (_node, api) = node(dir.path(), &["--drain-timeout", "0.3"]);
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
    let (_, body) = api.get("aggregate/current", &[("appID", &id)]).await;
    assert_eq!(body["result"][0]["connections"], 0, "{body}");

    // A connection cut by its app's removal (after the drain timeout) still ends.
    let cut = api
        .create(app(
            "tcp/7312",
            "127.71.0.2",
            &format!("tcp://{}", origin().await),
        ))
        .await;
    let held = tokio::spawn(exchange(
        "127.71.0.2:7312".parse().unwrap(),
        Duration::from_secs(5),
    ));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (status, _) = send(
        reqwest::Client::new()
            .delete(format!(
                "{}/zones/{}/spectrum/apps/{cut}",
                api.base, api.zone
            ))
            .bearer_auth(&api.token),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let (_, body) = api.get("aggregate/current", &[("appID", &cut)]).await;
    assert_eq!(body["result"][0]["connections"], 0, "{body}");
    let filter = format!("appID=={cut}");
    let ended = api
        .summary(&[
            ("dimensions", "event"),
            ("filters", &filter),
            ("sort", "+event"),
        ])
        .await;
    assert_eq!(
        ended,
        [
            (vec!["connect".to_owned()], vec![1.0]),
            (vec!["disconnect".to_owned()], vec![1.0]),
        ]
    );
    held.abort();

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
