//! The API's flags of `spectra serve` proved end to end: timeouts, the connection cap, the
//! rate limit, HTTPS, and a prompt exit on SIGTERM with a half-sent request.

mod common;

use common::*;
use reqwest::StatusCode;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

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
