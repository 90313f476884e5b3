//! Each `spectra serve` flag (or config key) proved end to end: a test that would fail if the
//! value never reached the code that uses it.

mod common;
#[allow(dead_code)]
#[path = "../../proxy/tests/common/dns_server.rs"]
mod dns_server;
#[path = "../../proxy/tests/common/geo_db.rs"]
mod geo_db;

use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::net::{IpAddr, SocketAddr};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn app_json(port: u16, origin: SocketAddr) -> Value {
    json!({"protocol": format!("tcp/{port}"), "dns": {"type": "CNAME", "name": "t.example.com"},
           "origin_direct": [format!("tcp://{origin}")], "edge_ips": {"type": "dynamic", "connectivity": "ipv4"}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resolver_and_origin_dns_max_ttl_reach_the_resolver_and_the_cache() {
    let dns = dns_server::DnsServer::start().await;
    let first = tagged("127.0.0.1:0", b"1").await;
    let port = first.port();
    // The second origin on another loopback address, same port: only DNS tells them apart.
    let _second = tagged(&format!("127.0.0.2:{port}"), b"2").await;
    dns.set_ips(
        "origin.example.com",
        &["127.0.0.1".parse::<IpAddr>().unwrap()],
    );
    let dir = tempfile::tempdir().unwrap();
    let (zone, token) = zone_and_token(dir.path());
    let node = Node::start(&[
        "--api-listen",
        "127.0.0.1:0",
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--resolver",
        &dns.addr.to_string(),
        "--origin-dns-max-ttl",
        "1",
        "--edge-ipv4-pool",
        "127.91.0.0/24",
    ]);
    create_app(
        &node,
        &zone,
        &token,
        json!({"protocol": "tcp/7001", "dns": {"type": "CNAME", "name": "t.example.com"},
        "origin_dns": {"name": "origin.example.com", "ttl": 600}, "origin_port": port,
        "edge_ips": {"type": "dynamic", "connectivity": "ipv4"}}),
    )
    .await;
    let edge: SocketAddr = "127.91.0.1:7001".parse().unwrap();
    assert_eq!(
        tag_at(edge).await,
        Some(b'1'),
        "resolved through --resolver"
    );
    assert!(
        dns.queries.load(Ordering::SeqCst) > 0,
        "the test's DNS server was asked"
    );
    // With the app's ttl of 600 s the answer would be kept; --origin-dns-max-ttl 1 refreshes it.
    dns.set_ips(
        "origin.example.com",
        &["127.0.0.2".parse::<IpAddr>().unwrap()],
    );
    let deadline = Instant::now() + Duration::from_secs(4);
    let mut seen = None;
    while Instant::now() < deadline {
        seen = tag_at(edge).await;
        if seen == Some(b'2') {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        seen,
        Some(b'2'),
        "the new answer is used within the max ttl"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn colo_access_log_and_file_modes() {
    let base = tempfile::tempdir().unwrap();
    let data = base.path().join("data");
    let log = base.path().join("access.jsonl");
    let config = base.path().join("spectra.toml");
    // The colo from the config file's key, the rest from flags.
    std::fs::write(&config, "colo = \"XY9\"\n").unwrap();
    let (zone, token) = {
        // The admin commands create the data dir too: 0700 either way.
        let z = zone_and_token(&data);
        assert_eq!(mode(&data), 0o700);
        z
    };
    let node = Node::start(&[
        "--api-listen",
        "127.0.0.1:0",
        "--data-dir",
        data.to_str().unwrap(),
        "--resolver",
        "127.0.0.1:9",
        "--config",
        config.to_str().unwrap(),
        "--access-log",
        log.to_str().unwrap(),
        "--edge-ipv4-pool",
        "127.92.0.0/24",
    ]);
    let origin = tagged("127.0.0.1:0", b"L").await;
    create_app(&node, &zone, &token, app_json(7002, origin)).await;
    let edge: SocketAddr = "127.92.0.1:7002".parse().unwrap();
    assert_eq!(tag_at(edge).await, Some(b'L'));
    let mut line = None;
    for _ in 0..100 {
        if let Some(l) = std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .next()
        {
            line = Some(serde_json::from_str::<Value>(l).unwrap());
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let line = line.expect("a connection log line");
    assert_eq!(line["ColoCode"], "XY9");
    assert_eq!(mode(&log), 0o640);
    assert_eq!(mode(&data.join("spectra.db")), 0o600);
    assert_eq!(mode(&data.join("spectra.db-wal")), 0o600);
    assert_eq!(mode(&data.join("tls")), 0o700);
    assert_eq!(mode(&data.join("tls/ca.key")), 0o600);
    let ca = std::fs::read(data.join("tls/ca.crt")).unwrap();
    let (_, pem) = x509_parser::pem::parse_x509_pem(&ca).unwrap();
    let cert = pem.parse_x509().unwrap();
    let days = cert.validity().time_to_expiration().unwrap().whole_days();
    assert!(
        (3640..=3651).contains(&days),
        "node CA valid {days} more days"
    );

    // A colo code that is not 1-3 upper-case letters or digits is refused at start.
    let out = std::process::Command::new(BIN)
        .args([
            "serve",
            "--colo",
            "lowercase",
            "--data-dir",
            data.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("colo"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_idle_timeout_per_client_share_and_tls_handshake_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let (zone, token) = zone_and_token(dir.path());
    let node = Node::with(
        dir.path(),
        &[
            "--edge-ipv4-pool",
            "127.93.0.0/24",
            "--tcp-idle-timeout",
            "0.5",
            "--max-connections-per-client",
            "2",
            "--tls-handshake-timeout",
            "0.3",
        ],
    );
    let origin = tagged("127.0.0.1:0", b"T").await;
    create_app(&node, &zone, &token, app_json(7003, origin)).await;
    let edge: SocketAddr = "127.93.0.1:7003".parse().unwrap();
    assert_eq!(tag_at(edge).await, Some(b'T'));
    // Idle: closed after half a second without a byte.
    let mut idle = TcpStream::connect(edge).await.unwrap();
    let after = closed_after(&mut idle, Duration::from_secs(3))
        .await
        .expect("closed");
    assert!(after >= Duration::from_millis(400), "{after:?}");
    // Per client: two open, the third is closed at once.
    let mut one = TcpStream::connect(edge).await.unwrap();
    let mut two = TcpStream::connect(edge).await.unwrap();
    for s in [&mut one, &mut two] {
        let mut tag = [0u8; 1];
        s.read_exact(&mut tag).await.unwrap();
    }
    let mut three = TcpStream::connect(edge).await.unwrap();
    let refused = closed_after(&mut three, Duration::from_millis(300)).await;
    assert!(
        refused.is_some(),
        "the third connection of one client is closed"
    );
    drop((one, two));

    // TLS handshake timeout: well before the 10 s connect timeout.
    create_app(&node, &zone, &token, json!({"protocol": "tcp/7004",
        "dns": {"type": "CNAME", "name": "t.example.com"}, "tls": "flexible",
        "origin_direct": [format!("tcp://{origin}")], "edge_ips": {"type": "dynamic", "connectivity": "ipv4"}})).await;
    let tls_edge: SocketAddr = "127.93.0.1:7004".parse().unwrap();
    let mut silent = None;
    for _ in 0..100 {
        if let Ok(s) = TcpStream::connect(tls_edge).await {
            silent = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut silent = silent.expect("TLS app listening");
    let after = closed_after(&mut silent, Duration::from_secs(3))
        .await
        .expect("closed");
    assert!(after < Duration::from_secs(2), "{after:?}");
}

/// Whether a connection from the loopback address `source` to `edge` gets the origin's tag.
async fn reaches_from(source: &str, edge: SocketAddr) -> bool {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
    let Ok(mut stream) = socket.connect(edge).await else {
        return false;
    };
    let mut tag = [0u8; 1];
    matches!(
        tokio::time::timeout(Duration::from_secs(2), stream.read(&mut tag)).await,
        Ok(Ok(1))
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn geoip_db_lets_country_rules_be_made_and_match() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("geo.mmdb");
    geo_db::write_geo_db(&db, &[("127.94.9.0/24", "XX", 64500)]);
    let (zone, token) = zone_and_token(dir.path());
    let node = Node::with(
        dir.path(),
        &[
            "--edge-ipv4-pool",
            "127.94.0.0/24",
            "--geoip-db",
            db.to_str().unwrap(),
        ],
    );
    let (status, body) = send(
        reqwest::Client::new()
            .post(format!(
                "{}/zones/{zone}/firewall/access_rules/rules",
                node.base
            ))
            .bearer_auth(&token)
            .json(&json!({"mode": "block", "configuration": {"target": "country", "value": "xx"}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let origin = tagged("127.0.0.1:0", b"G").await;
    let mut app = app_json(7005, origin);
    app["ip_firewall"] = json!(true);
    create_app(&node, &zone, &token, app).await;
    let edge: SocketAddr = "127.94.0.1:7005".parse().unwrap();
    assert_eq!(tag_at(edge).await, Some(b'G'));
    assert!(reaches_from("127.94.8.1", edge).await, "not in XX");
    assert!(!reaches_from("127.94.9.1", edge).await, "in XX: refused");
}
