//! Limits on what one connection or client may hold: the TCP idle timeout (a stalled origin
//! or client frees its slot), the TLS handshake timeout, the per-client share of the node's
//! connections, each logged with the status that names it.

mod common;

use common::*;
use proxy::{NodeCa, Options, TlsOptions};
use serde_json::Value;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpSocket, TcpStream};

/// An origin that accepts and then neither reads nor writes, holding every connection.
async fn stalled_origin() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    addr
}

fn log_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Waits (up to 2 s) for a log line of app `id` (by its character) with `status`.
async fn logged_status(path: &Path, id: char, status: u16) -> Value {
    for _ in 0..200 {
        if let Some(line) = log_lines(path)
            .into_iter()
            .find(|l| l["Status"] == status && l["Application"] == id.to_string().repeat(32))
        {
            return line;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no log line with status {status}: {:?}", log_lines(path));
}

/// A TCP connection from the loopback address `source`.
async fn connect_from(source: &str, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(sa(&format!("{source}:0"))).unwrap();
    socket.connect(to).await.unwrap()
}

#[tokio::test]
async fn a_connection_without_a_byte_either_way_closes_at_the_idle_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("access.jsonl");
    let options = Options {
        tcp_idle_timeout: Duration::from_millis(400),
        ..options()
    };
    let edge = Edge::start_with_log(options, Some(proxy::AccessLog::open(&log_path).unwrap()));
    let echo = tagged_echo("127.0.0.1:0", "I").await;
    let stalled = stalled_origin().await;
    let a = tcp_app('a', 6301, &[echo], &["127.74.1.1"]);
    let b = tcp_app('b', 6302, &[stalled], &["127.74.1.1"]);
    edge.publish(&[&a, &b]).await;

    // Traffic every 150 ms keeps a connection open well past the timeout.
    let (_, mut busy) = connect_tagged(sa("127.74.1.1:6301"), 1).await;
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        echo_round(&mut busy, b"tick").await;
    }
    // An origin that never reads: the client's bytes stop moving, and the slot is freed.
    let started = Instant::now();
    let mut stuck = TcpStream::connect("127.74.1.1:6302").await.unwrap();
    stuck.write_all(&[7u8; 64 * 1024]).await.unwrap();
    assert!(closed_within(&mut stuck, Duration::from_secs(3)).await);
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(400), "{took:?}");
    let line = logged_status(&log_path, 'b', 408).await;
    assert_eq!(
        line["ClientBytes"],
        64 * 1024,
        "the bytes that did move are counted"
    );
    // The idle one then closes too.
    assert!(closed_within(&mut busy, Duration::from_secs(2)).await);
    assert_eq!(edge.counters.timed_out.load(Ordering::Relaxed), 2);
    edge.stop().await;
}

#[tokio::test]
async fn one_client_cannot_take_every_slot_of_the_node() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("access.jsonl");
    let options = Options {
        max_connections: 4,
        max_connections_per_client: 2,
        ..options()
    };
    let edge = Edge::start_with_log(options, Some(proxy::AccessLog::open(&log_path).unwrap()));
    let echo = tagged_echo("127.0.0.1:0", "C").await;
    let a = tcp_app('a', 6311, &[echo], &["127.74.2.1"]);
    edge.publish(&[&a]).await;
    let to = sa("127.74.2.1:6311");
    let mut greedy = Vec::new();
    for _ in 0..2 {
        let mut s = connect_from("127.74.2.10", to).await;
        echo_round_after_tag(&mut s).await;
        greedy.push(s);
    }
    let mut third = connect_from("127.74.2.10", to).await;
    assert!(closed_within(&mut third, Duration::from_secs(2)).await);
    let line = logged_status(&log_path, 'a', 429).await;
    assert_eq!(line["ClientIP"], "127.74.2.10");
    assert_eq!(
        edge.counters.client_limit_refused.load(Ordering::Relaxed),
        1
    );
    // Another client still gets in: the node has slots left.
    let mut other = connect_from("127.74.2.11", to).await;
    echo_round_after_tag(&mut other).await;
    // Once the greedy client closes one, it may open one again.
    drop(greedy.pop());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut again = connect_from("127.74.2.10", to).await;
    echo_round_after_tag(&mut again).await;
    // The node's own cap: four open, the fifth is closed and logged as such.
    let mut fourth = connect_from("127.74.2.12", to).await;
    echo_round_after_tag(&mut fourth).await;
    let mut fifth = connect_from("127.74.2.13", to).await;
    assert!(closed_within(&mut fifth, Duration::from_secs(2)).await);
    logged_status(&log_path, 'a', 503).await;
    edge.stop().await;
}

/// Reads the one-byte tag, then checks an echo.
async fn echo_round_after_tag(stream: &mut TcpStream) {
    use tokio::io::AsyncReadExt;
    let mut tag = [0u8; 1];
    tokio::time::timeout(Duration::from_secs(3), stream.read_exact(&mut tag))
        .await
        .expect("tag in time")
        .expect("tag");
    echo_round(stream, b"hello").await;
}

#[tokio::test]
async fn a_tls_handshake_that_never_finishes_is_closed_at_its_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("access.jsonl");
    let (ca, _, _) = NodeCa::generate().unwrap();
    let options = Options {
        tls_handshake_timeout: Duration::from_millis(300),
        tls: Arc::new(TlsOptions {
            ca: Some(ca),
            ..TlsOptions::default()
        }),
        ..options()
    };
    let edge = Edge::start_with_log(options, Some(proxy::AccessLog::open(&log_path).unwrap()));
    let echo = tagged_echo("127.0.0.1:0", "T").await;
    let a = app(
        'a',
        serde_json::json!({"protocol": "tcp/6321", "dns": {"name": "t.example.com"},
            "origin_direct": [format!("tcp://{echo}")], "tls": "flexible"}),
        &["127.74.3.1"],
    );
    edge.publish(&[&a]).await;
    let started = Instant::now();
    let mut silent = TcpStream::connect("127.74.3.1:6321").await.unwrap();
    // Half a client hello, then nothing.
    silent
        .write_all(&[0x16, 0x03, 0x01, 0x00, 0x40])
        .await
        .unwrap();
    assert!(closed_within(&mut silent, Duration::from_secs(3)).await);
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "well before the connect timeout"
    );
    let line = logged_status(&log_path, 'a', 442).await;
    assert_eq!(line["Event"], "tlsError");
    edge.stop().await;
}
