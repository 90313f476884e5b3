//! `traffic_type: http` apps through `spectra serve`: requests forwarded with the forwarding
//! headers, hop-by-hop ones removed and `Host` kept, origin connections reused, bodies
//! streamed both ways, a WebSocket upgrade relayed, failover, 502 and 504 pages with their ray
//! id, and a log line per request.

mod common;
mod http_support;

use bytes::Bytes;
use common::*;
use http_support::{http_app, origin, up};
use serde_json::{json, Value};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_carry_forwarding_headers_reuse_origin_connections_and_stream_bodies() {
    let dir = tempfile::tempdir().unwrap();
    let (zone, token) = zone_and_token(dir.path());
    let log = dir.path().join("access.jsonl");
    let node = Node::with(
        dir.path(),
        &[
            "--edge-static-allow",
            "127.65.0.0/16",
            "--access-log",
            log.to_str().unwrap(),
        ],
    );
    let o = origin().await;
    create_app(
        &node,
        &zone,
        &token,
        http_app("www.example.com", 8080, &[o.addr], "127.65.0.1"),
    )
    .await;
    let edge = "127.65.0.1:8080";
    up(edge).await;

    let http = reqwest::Client::new();
    let response = http
        .get(format!("http://{edge}/headers"))
        .header("host", "www.example.com")
        .header("x-forwarded-for", "198.51.100.7")
        .header("connection", "keep-alive, x-secret")
        .header("x-secret", "hidden")
        .header("keep-alive", "timeout=5")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let ray = response.headers()["cf-ray"].to_str().unwrap().to_owned();
    assert!(ray.ends_with("-LOC") && ray.len() == 20, "{ray}");
    assert!(
        !response.headers().contains_key("x-origin-secret"),
        "named in the origin's Connection"
    );
    let seen: Value = response.json().await.unwrap();
    assert_eq!(seen["host"], "www.example.com", "Host kept");
    assert_eq!(seen["x-forwarded-for"], "198.51.100.7, 127.0.0.1");
    assert_eq!(seen["x-forwarded-proto"], "http");
    assert_eq!(seen["cf-connecting-ip"], "127.0.0.1");
    assert_eq!(seen["cf-ray"], ray.as_str());
    for gone in ["x-secret", "keep-alive"] {
        assert!(seen.get(gone).is_none(), "{gone}: {seen}");
    }

    // Requests from new client connections reuse the origin connection.
    for _ in 0..5 {
        let fresh = reqwest::Client::new();
        let r = fresh
            .get(format!("http://{edge}/headers"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.bytes().await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        o.connections.load(Ordering::SeqCst),
        1,
        "one origin connection for six requests"
    );

    // Bodies stream both ways: 8 MiB up (chunked), 32 MiB down.
    let chunks = (0..128).map(|_| Ok::<_, Infallible>(Bytes::from(vec![b'y'; 65536])));
    let up_body = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
    let counted = http
        .post(format!("http://{edge}/count"))
        .body(up_body)
        .send()
        .await
        .unwrap();
    assert_eq!(counted.text().await.unwrap(), (8 * 1024 * 1024).to_string());
    let big = http
        .get(format!("http://{edge}/big?mb=32"))
        .send()
        .await
        .unwrap();
    assert_eq!(big.bytes().await.unwrap().len(), 32 * 1024 * 1024);

    // A line per request in the log, besides the connections'.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let lines: Vec<Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let big_line = lines
        .iter()
        .find(|l| l["Event"] == "request" && l["ClientRequestPath"] == "/big")
        .expect("a request line");
    assert_eq!(big_line["ClientRequestMethod"], "GET");
    assert_eq!(big_line["EdgeResponseStatus"], 200);
    assert_eq!(big_line["EdgeResponseBytes"], 32 * 1024 * 1024);
    assert_eq!(big_line["ClientRequestHost"], edge);
    let first = lines
        .iter()
        .find(|l| l["ClientRequestPath"] == "/headers")
        .unwrap();
    assert_eq!(first["RayID"], ray.as_str());
    assert_eq!(first["ClientRequestHost"], "www.example.com");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrades_failover_and_the_edge_s_own_pages() {
    let dir = tempfile::tempdir().unwrap();
    let (zone, token) = zone_and_token(dir.path());
    let node = Node::with(
        dir.path(),
        &[
            "--edge-static-allow",
            "127.65.0.0/16",
            "--http-origin-timeout",
            "0.5",
        ],
    );
    let o = origin().await;
    // The first origin refuses: every request fails over to the second.
    let closed = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    create_app(
        &node,
        &zone,
        &token,
        http_app("ws.example.com", 8081, &[closed, o.addr], "127.65.0.2"),
    )
    .await;
    let edge = "127.65.0.2:8081";
    up(edge).await;
    for _ in 0..4 {
        let r = reqwest::get(format!("http://{edge}/headers"))
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }

    // A WebSocket upgrade, relayed as bytes.
    let mut ws = TcpStream::connect(edge).await.unwrap();
    ws.write_all(b"GET /ws HTTP/1.1\r\nHost: ws.example.com\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n").await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        ws.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap().to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(head.contains("upgrade: websocket"), "{head}");
    ws.write_all(b"ping over the upgrade").await.unwrap();
    let mut echoed = [0u8; 21];
    tokio::time::timeout(Duration::from_secs(2), ws.read_exact(&mut echoed))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&echoed, b"ping over the upgrade");

    // Too slow: 504 after --http-origin-timeout, with the page and its ray id.
    let started = Instant::now();
    let slow = reqwest::get(format!("http://{edge}/slow")).await.unwrap();
    assert_eq!(slow.status(), 504);
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    let ray = slow.headers()["cf-ray"].to_str().unwrap().to_owned();
    let page = slow.text().await.unwrap();
    assert!(
        page.contains("504 Gateway Timeout") && page.contains(&ray),
        "{page}"
    );

    // No origin at all: 502.
    create_app(
        &node,
        &zone,
        &token,
        http_app("down.example.com", 8082, &[closed], "127.65.0.3"),
    )
    .await;
    up("127.65.0.3:8082").await;
    let down = reqwest::get("http://127.65.0.3:8082/").await.unwrap();
    assert_eq!(down.status(), 502);
    let ray = down.headers()["cf-ray"].to_str().unwrap().to_owned();
    let page = down.text().await.unwrap();
    assert!(
        page.contains("502 Bad Gateway") && page.contains(&ray),
        "{page}"
    );
}

/// A bare HTTP origin that expects a PROXY v1 header first: answers every request with the
/// header it got on that connection, and counts connections.
async fn proxied_origin() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let count = connections.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut seen = Vec::new();
                let mut byte = [0u8; 1];
                let mut header = String::new();
                loop {
                    if stream.read_exact(&mut byte).await.is_err() {
                        return;
                    }
                    seen.push(byte[0]);
                    if header.is_empty() && seen.ends_with(b"\r\n") {
                        header = String::from_utf8_lossy(&seen).trim().to_owned();
                        seen.clear();
                    } else if seen.ends_with(b"\r\n\r\n") {
                        seen.clear();
                        let body = header.clone();
                        let reply = format!(
                            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
                            body.len()
                        );
                        if stream.write_all(reply.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    (addr, connections)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_proxy_protocol_each_client_gets_its_own_origin_connection_and_one_header() {
    let dir = tempfile::tempdir().unwrap();
    let (zone, token) = zone_and_token(dir.path());
    let node = Node::with(dir.path(), &["--edge-static-allow", "127.65.0.0/16"]);
    let (origin_addr, connections) = proxied_origin().await;
    let mut app = http_app("pp.example.com", 8083, &[origin_addr], "127.65.0.4");
    app["proxy_protocol"] = json!("v1");
    create_app(&node, &zone, &token, app).await;
    let edge = "127.65.0.4:8083";
    up(edge).await;
    // One client connection, three requests on it (a pooling client might open a second).
    let stream = tokio::net::TcpStream::connect(edge).await.unwrap();
    let (mut one, connection) = hyper::client::conn::http1::handshake::<
        _,
        http_body_util::Empty<Bytes>,
    >(hyper_util::rt::TokioIo::new(stream))
    .await
    .unwrap();
    tokio::spawn(connection);
    let mut headers = Vec::new();
    for _ in 0..3 {
        let request = hyper::Request::get("/")
            .header("host", "pp.example.com")
            .body(http_body_util::Empty::new())
            .unwrap();
        one.ready().await.unwrap();
        let response = one.send_request(request).await.unwrap();
        let body = http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap();
        headers.push(String::from_utf8(body.to_bytes().to_vec()).unwrap());
    }
    assert!(
        headers[0].starts_with("PROXY TCP4 127.0.0.1 127.65.0.4 "),
        "{}",
        headers[0]
    );
    assert!(
        headers.iter().all(|h| h == &headers[0]),
        "one header per origin connection: {headers:?}"
    );
    assert_eq!(connections.load(Ordering::SeqCst), 1);
    // Another client: another origin connection, with its own header.
    let two = reqwest::Client::new();
    let other = two
        .get(format!("http://{edge}/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_ne!(other, headers[0], "the header names this client's port");
    assert_eq!(connections.load(Ordering::SeqCst), 2);
}
