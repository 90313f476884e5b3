//! The TCP data plane over real loopback sockets: ports and ranges, edge addresses, balancing
//! and failover, PROXY headers, half-close, live changes, drain, limits and the connection log.

mod common;

use common::*;
use proxy::Options;
use serde_json::json;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[tokio::test]
async fn a_single_port_app_relays_on_every_edge_address() {
    let origin = tagged_echo("127.0.0.1:0", "A").await;
    let port = free_port("::1");
    let edge = Edge::start(options());
    let a = tcp_app('a', port, &[origin], &["127.71.1.1", "127.71.1.2", "::1"]);
    edge.publish(&[&a]).await;
    for ip in ["127.71.1.1", "127.71.1.2", "[::1]"] {
        let (tag, mut stream) = connect_tagged(sa(&format!("{ip}:{port}")), 1).await;
        assert_eq!(tag, "A");
        echo_round(&mut stream, b"hello through the edge").await;
    }
    let listeners = proxy_status(&edge.status, &a.id);
    assert_eq!(listeners.len(), 3);
    assert!(listeners.iter().all(|l| l.error.is_none()));
    edge.stop().await;
}

#[tokio::test]
async fn a_port_range_maps_each_edge_port_onto_the_origin_range() {
    for (i, port) in (7000..7003).enumerate() {
        let tag: &'static str = ["0", "1", "2"][i];
        tagged_echo(&format!("127.72.1.1:{port}"), tag).await;
    }
    let edge = Edge::start(options());
    let a = app(
        'a',
        json!({"protocol": "tcp/5000-5002", "dns": {"name": "r.example.com"},
               "origin_direct": ["tcp://127.72.1.1:7000-7002"]}),
        &["127.71.2.1"],
    );
    edge.publish(&[&a]).await;
    for (i, port) in (5000..5003).enumerate() {
        let (tag, _) = connect_tagged(sa(&format!("127.71.2.1:{port}")), 1).await;
        assert_eq!(tag, i.to_string(), "edge port {port}");
    }
    edge.stop().await;
}

#[tokio::test]
async fn connections_spread_over_origins_by_load() {
    let a_origin = tagged_echo("127.0.0.1:0", "A").await;
    let b_origin = tagged_echo("127.0.0.1:0", "B").await;
    let edge = Edge::start(options());
    let app = tcp_app('a', 6000, &[a_origin, b_origin], &["127.71.3.1"]);
    edge.publish(&[&app]).await;
    let mut held = Vec::new();
    let (mut a, mut b) = (0, 0);
    for _ in 0..40 {
        let (tag, stream) = connect_tagged(sa("127.71.3.1:6000"), 1).await;
        if tag == "A" {
            a += 1
        } else {
            b += 1
        }
        held.push(stream);
    }
    assert!((15..=25).contains(&a) && a + b == 40, "A {a} B {b}");
    edge.stop().await;
}

#[tokio::test]
async fn a_refusing_origin_fails_over_and_gets_ejected() {
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let good = tagged_echo("127.0.0.1:0", "G").await;
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("access.jsonl");
    let edge = Edge::start_with_log(options(), Some(proxy::AccessLog::open(&log_path).unwrap()));
    let a = tcp_app('a', 6001, &[dead, good], &["127.71.4.1"]);
    edge.publish(&[&a]).await;
    for _ in 0..10 {
        let (tag, _) = connect_tagged(sa("127.71.4.1:6001"), 1).await;
        assert_eq!(tag, "G");
    }
    // Only every origin failing reaches the client: it is closed without a byte.
    let all_dead = tcp_app('b', 6002, &[dead], &["127.71.4.1"]);
    edge.publish(&[&a, &all_dead]).await;
    let mut stream = TcpStream::connect("127.71.4.1:6002").await.unwrap();
    assert!(closed_within(&mut stream, Duration::from_secs(2)).await);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let log = std::fs::read_to_string(&log_path).unwrap();
    let events: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let failed = events
        .iter()
        .find(|e| e["Application"] == "b".repeat(32))
        .expect("logged");
    assert_eq!(failed["Event"], "originError");
    assert_eq!(failed["Status"], 521);
    edge.stop().await;
    let ok = serde_json::from_str::<serde_json::Value>(
        std::fs::read_to_string(&log_path)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    for field in [
        "Timestamp",
        "Event",
        "Application",
        "ColoCode",
        "ClientIP",
        "ClientPort",
        "ClientProto",
        "ClientBytes",
        "OriginIP",
        "OriginPort",
        "OriginProto",
        "OriginBytes",
        "ConnectTimestamp",
        "DisconnectTimestamp",
        "IpProtocol",
        "ProxyProtocol",
        "Status",
    ] {
        assert!(ok.get(field).is_some(), "{field} missing from {ok}");
    }
}

/// A listener whose accept queue is full: further SYNs are dropped, so connects hang.
fn black_hole() -> (SocketAddr, Vec<std::net::TcpStream>) {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.bind(&sa("127.0.0.1:0").into()).unwrap();
    socket.listen(0).unwrap();
    let addr = socket.local_addr().unwrap().as_socket().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..4 {
        let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        s.set_nonblocking(true).unwrap();
        let _ = s.connect(&addr.into());
        fillers.push(s.into());
    }
    std::mem::forget(socket);
    std::thread::sleep(Duration::from_millis(50));
    (addr, fillers)
}

#[tokio::test]
async fn a_black_holing_origin_times_out_within_the_budget_and_fails_over() {
    let (hole, _fillers) = black_hole();
    let direct = tokio::time::timeout(Duration::from_millis(300), TcpStream::connect(hole)).await;
    assert!(direct.is_err(), "the hole must not answer: {direct:?}");
    let good = tagged_echo("127.0.0.1:0", "G").await;
    let edge = Edge::start(Options {
        connect_timeout: Duration::from_secs(2),
        ..options()
    });
    let a = tcp_app('a', 6003, &[hole, good], &["127.71.5.1"]);
    edge.publish(&[&a]).await;
    let started = Instant::now();
    for _ in 0..4 {
        let (tag, _) = connect_tagged(sa("127.71.5.1:6003"), 1).await;
        assert_eq!(tag, "G");
    }
    // At most one connection waited for the hole (half the budget); then it was ejected.
    assert!(
        started.elapsed() < Duration::from_millis(1800),
        "{:?}",
        started.elapsed()
    );
    edge.stop().await;
}

/// The header as "VERSION SOURCE DESTINATION" once `ppp` has a complete one.
fn parse_header(buf: &[u8]) -> Option<String> {
    use ppp::{v1, v2, HeaderResult};
    let (version, (src, dst)) = match HeaderResult::parse(buf) {
        HeaderResult::V1(Ok(v1::Header { addresses, .. })) => (
            "v1",
            match addresses {
                v1::Addresses::Tcp4(a) => (
                    SocketAddr::from((a.source_address, a.source_port)),
                    SocketAddr::from((a.destination_address, a.destination_port)),
                ),
                v1::Addresses::Tcp6(a) => (
                    SocketAddr::from((a.source_address, a.source_port)),
                    SocketAddr::from((a.destination_address, a.destination_port)),
                ),
                v1::Addresses::Unknown => panic!("UNKNOWN header"),
            },
        ),
        HeaderResult::V2(Ok(h)) => {
            assert_eq!(h.command, v2::Command::Proxy);
            assert_eq!(h.protocol, v2::Protocol::Stream);
            (
                "v2",
                match h.addresses {
                    v2::Addresses::IPv4(a) => (
                        SocketAddr::from((a.source_address, a.source_port)),
                        SocketAddr::from((a.destination_address, a.destination_port)),
                    ),
                    v2::Addresses::IPv6(a) => (
                        SocketAddr::from((a.source_address, a.source_port)),
                        SocketAddr::from((a.destination_address, a.destination_port)),
                    ),
                    other => panic!("unexpected addresses {other:?}"),
                },
            )
        }
        _ => return None,
    };
    Some(format!("{version} {src} {dst}"))
}

/// An origin that reads a PROXY header with the independent `ppp` parser, then speaks first.
async fn header_origin() -> (SocketAddr, tokio::sync::mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    tokio::spawn(async move {
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 512];
                let header = loop {
                    let n = stream.read(&mut chunk).await.unwrap();
                    assert!(n > 0, "no header before EOF");
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(parsed) = parse_header(&buf) {
                        break parsed;
                    }
                };
                tx.send(header).await.unwrap();
                stream.write_all(b"SSH-2.0-origin\r\n").await.unwrap();
            });
        }
    });
    (addr, rx)
}

#[tokio::test]
async fn proxy_protocol_headers_come_first_and_parse_independently() {
    let (origin, mut headers) = header_origin().await;
    let edge = Edge::start(options());
    let port6 = free_port("::1");
    for (id, mode, ip, port) in [
        ('a', "v1", "127.71.6.1", 6004),
        ('b', "v2", "127.71.6.1", 6005),
        ('c', "v2", "::1", port6),
    ] {
        let config = json!({"protocol": format!("tcp/{port}"), "dns": {"name": format!("{id}.example.com")},
                            "origin_direct": [format!("tcp://{origin}")], "proxy_protocol": mode});
        let a = app(id, config, &[ip]);
        edge.publish(&[&a]).await;
        let edge_addr = SocketAddr::new(ip.parse().unwrap(), port);
        let mut client = TcpStream::connect(edge_addr).await.unwrap();
        let client_addr = client.local_addr().unwrap();
        // The client sends nothing: the origin must still get the header and speak first.
        let mut banner = [0u8; 16];
        tokio::time::timeout(Duration::from_secs(5), client.read_exact(&mut banner))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&banner, b"SSH-2.0-origin\r\n");
        let header = headers.recv().await.unwrap();
        assert_eq!(header, format!("{mode} {client_addr} {edge_addr}"));
    }
    edge.stop().await;
}

#[tokio::test]
async fn half_close_reaches_the_origin_and_the_other_half_keeps_flowing() {
    // The origin reads to EOF, then answers with what it got, then closes.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut all = Vec::new();
        s.read_to_end(&mut all).await.unwrap();
        s.write_all(format!("got {} bytes", all.len()).as_bytes())
            .await
            .unwrap();
    });
    let edge = Edge::start(options());
    let a = tcp_app('a', 6006, &[origin], &["127.71.7.1"]);
    edge.publish(&[&a]).await;
    let mut client = TcpStream::connect("127.71.7.1:6006").await.unwrap();
    client.write_all(&vec![7u8; 300_000]).await.unwrap();
    client.shutdown().await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(5), client.read_to_string(&mut answer))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(answer, "got 300000 bytes");
    edge.stop().await;
}

#[tokio::test]
async fn bulk_data_survives_a_slow_reader_both_ways() {
    let origin = tagged_echo("127.0.0.1:0", "Z").await;
    let edge = Edge::start(options());
    let a = tcp_app('a', 6016, &[origin], &["127.71.14.1"]);
    edge.publish(&[&a]).await;
    let (_, stream) = connect_tagged(sa("127.71.14.1:6016"), 1).await;
    let (mut reader, mut writer) = stream.into_split();
    let data: Vec<u8> = (0..16 * 1024 * 1024u32)
        .map(|i| (i * 7 % 251) as u8)
        .collect();
    let expected = data.clone();
    let sender = tokio::spawn(async move {
        writer.write_all(&data).await.unwrap();
        writer.shutdown().await.unwrap();
    });
    // Nobody reads for a while: every buffer on the way fills and the edge must hold back.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut back = Vec::with_capacity(expected.len());
    tokio::time::timeout(Duration::from_secs(20), reader.read_to_end(&mut back))
        .await
        .unwrap()
        .unwrap();
    sender.await.unwrap();
    assert_eq!(back.len(), expected.len());
    assert!(back == expected, "bytes changed on the way");
    edge.stop().await;
}
