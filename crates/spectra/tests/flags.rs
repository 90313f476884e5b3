//! Each `spectra serve` flag (or config key) proved end to end: a test that would fail if the
//! value never reached the code that uses it.

mod common;
#[allow(dead_code)]
#[path = "../../proxy/tests/common/dns_server.rs"]
mod dns_server;

use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::net::{IpAddr, SocketAddr};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A zone `example.com` and a write token on `dir`'s store.
fn zone_and_token(dir: &Path) -> (String, String) {
    let zone = last_line(&cli(dir, &["zone", "create", "example.com"]));
    let token = last_line(&cli(
        dir,
        &[
            "token",
            "create",
            "--permission",
            "zone-settings-write",
            "--permission",
            "zone-write",
        ],
    ));
    (zone, token)
}

async fn create_app(node: &Node, zone: &str, token: &str, app: Value) -> Value {
    let (status, body) = send(
        reqwest::Client::new()
            .post(format!("{}/zones/{zone}/spectrum/apps", node.base))
            .bearer_auth(token)
            .json(&app),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["result"].clone()
}

/// An origin on `addr` that sends `tag` and then echoes.
async fn tagged(addr: &str, tag: &'static [u8]) -> SocketAddr {
    let listener = TcpListener::bind(addr).await.unwrap();
    let local = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let _ = s.write_all(tag).await;
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    local
}

/// The tag an edge address answers with, retrying for up to 2 s while the app comes up.
async fn tag_at(edge: SocketAddr) -> Option<u8> {
    for _ in 0..100 {
        if let Ok(mut s) = TcpStream::connect(edge).await {
            let mut tag = [0u8; 1];
            if let Ok(Ok(1)) = tokio::time::timeout(Duration::from_secs(1), s.read(&mut tag)).await
            {
                return Some(tag[0]);
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

/// How long until the peer closes `stream`, within `within`.
async fn closed_after(stream: &mut TcpStream, within: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 256];
    loop {
        let left = within.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

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
    std::fs::create_dir(&data).unwrap_or(());
    std::fs::remove_dir(&data).unwrap();
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

/// An HTTP/1.1 GET of the zones with `token`.
fn get_zones(token: &str) -> String {
    format!("GET /client/v4/zones HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {token}\r\n\r\n")
}

fn api_addr(node: &Node) -> SocketAddr {
    let rest = node.base.split("://").nth(1).unwrap();
    rest.split('/').next().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_timeouts_connection_cap_and_rate_limit() {
    let dir = tempfile::tempdir().unwrap();
    let (_, token) = zone_and_token(dir.path());
    let node = Node::with(
        dir.path(),
        &[
            "--api-header-timeout",
            "0.3",
            "--api-idle-timeout",
            "0.8",
            "--api-body-timeout",
            "0.3",
            "--api-max-connections",
            "3",
            "--api-rate-limit",
            "6/10s",
        ],
    );
    let addr = api_addr(&node);
    // Header timeout: a silent connection closes after 0.3 s, not the default 10.
    let mut silent = TcpStream::connect(addr).await.unwrap();
    let after = closed_after(&mut silent, Duration::from_secs(3))
        .await
        .expect("closed");
    assert!(after < Duration::from_secs(2), "{after:?}");
    // Idle timeout: after an answer, closed after 0.8 s, not the default 60.
    let mut keep = TcpStream::connect(addr).await.unwrap();
    keep.write_all(get_zones(&token).as_bytes()).await.unwrap();
    let answered = Instant::now();
    closed_after(&mut keep, Duration::from_secs(3))
        .await
        .expect("closed");
    let idle = answered.elapsed();
    assert!(
        idle >= Duration::from_millis(600) && idle < Duration::from_secs(2),
        "{idle:?}"
    );
    // Body timeout: 408.
    let mut body = TcpStream::connect(addr).await.unwrap();
    body.write_all(format!("POST /client/v4/zones HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {token}\r\ncontent-type: application/json\r\ncontent-length: 50\r\n\r\n{{").as_bytes()).await.unwrap();
    let mut head = [0u8; 12];
    body.read_exact(&mut head).await.unwrap();
    assert_eq!(&head[9..12], b"408");
    // The cap: three idle connections, and a real client still gets its answer.
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(TcpStream::connect(addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let http = reqwest::Client::new();
    let zones = format!("{}/zones", node.base);
    let r = http.get(&zones).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        closed_after(&mut held[0], Duration::from_secs(1))
            .await
            .is_some(),
        "the oldest idle one made room"
    );
    // Rate limit: 6 per 10 s per credential, 3 used above (keep, body, reqwest).
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(
            http.get(&zones)
                .bearer_auth(&token)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16(),
        );
    }
    assert_eq!(statuses, [200, 200, 200, 429, 429]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_tls_cert_and_key_serve_https() {
    let dir = tempfile::tempdir().unwrap();
    let (_, token) = zone_and_token(dir.path());
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert_path, key_path) = (dir.path().join("api.crt"), dir.path().join("api.key"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, signing_key.serialize_pem()).unwrap();
    let node = Node::with(
        dir.path(),
        &[
            "--api-tls-cert",
            cert_path.to_str().unwrap(),
            "--api-tls-key",
            key_path.to_str().unwrap(),
        ],
    );
    assert!(node.base.starts_with("https://"), "{}", node.base);
    let addr = api_addr(&node);
    let http = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_der(cert.der()).unwrap())
        .resolve("localhost", addr)
        .build()
        .unwrap();
    let r = http
        .get(format!("https://localhost:{}/client/v4/zones", addr.port()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_a_half_sent_api_request_exits_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = Node::with(dir.path(), &["--drain-timeout", "20"]);
    let mut half = TcpStream::connect(api_addr(&node)).await.unwrap();
    half.write_all(b"POST /client/v4/zones HTTP/1.1\r\nhost: x\r\ncontent-length: 10\r\n\r\n{")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    node.signal("-TERM");
    let status = tokio::task::spawn_blocking(move || {
        let status = node.child.wait().unwrap();
        drop(node);
        status
    })
    .await
    .unwrap();
    assert!(status.success(), "{status}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}
