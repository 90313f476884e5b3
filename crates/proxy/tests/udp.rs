//! The UDP data plane over real loopback sockets: flows per client, ranges, idle expiry, Simple
//! Proxy Protocol both ways, PROXY v2 on the first datagram, balancing and ejection, the flow
//! limit, and IPv6.

mod common;

use common::*;
use proxy::Options;
use serde_json::json;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::UdpSocket;

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn udp_app(
    id: char,
    protocol: &str,
    origins: &[String],
    edge: &[&str],
    proxy_protocol: &str,
) -> model::App {
    app(
        id,
        json!({"protocol": protocol, "dns": {"name": format!("{id}.example.com")},
               "origin_direct": origins, "proxy_protocol": proxy_protocol}),
        edge,
    )
}

/// An origin that answers each datagram with `tag` followed by the datagram.
async fn tagged_udp(addr: &str, tag: &'static [u8]) -> SocketAddr {
    let socket = UdpSocket::bind(addr).await.unwrap();
    let local = socket.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 2048];
        while let Ok((n, from)) = socket.recv_from(&mut buf).await {
            let mut reply = tag.to_vec();
            reply.extend_from_slice(&buf[..n]);
            let _ = socket.send_to(&reply, from).await;
        }
    });
    local
}

/// An origin that records every datagram with its source, and answers nothing.
async fn recording_udp() -> (SocketAddr, Arc<Mutex<Vec<(SocketAddr, Vec<u8>)>>>) {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let local = socket.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        let mut buf = [0u8; 2048];
        while let Ok((n, from)) = socket.recv_from(&mut buf).await {
            log.lock().unwrap().push((from, buf[..n].to_vec()));
        }
    });
    (local, seen)
}

/// Sends `data` to `edge` from `client` and returns the reply and where it came from.
async fn exchange(
    client: &UdpSocket,
    edge: SocketAddr,
    data: &[u8],
) -> Option<(Vec<u8>, SocketAddr)> {
    exchange_within(client, edge, data, Duration::from_secs(2)).await
}

async fn exchange_within(
    client: &UdpSocket,
    edge: SocketAddr,
    data: &[u8],
    within: Duration,
) -> Option<(Vec<u8>, SocketAddr)> {
    client.send_to(data, edge).await.unwrap();
    let mut buf = [0u8; 2048];
    match tokio::time::timeout(within, client.recv_from(&mut buf)).await {
        Ok(Ok((n, from))) => Some((buf[..n].to_vec(), from)),
        _ => None,
    }
}

async fn client_socket() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0").await.unwrap()
}

#[tokio::test]
async fn datagrams_relay_both_ways_from_the_edge_address_they_were_sent_to() {
    let origin = tagged_udp("127.0.0.1:0", b"A:").await;
    let edge = Edge::start(options());
    let a = udp_app(
        'a',
        "udp/5300",
        &[format!("udp://{origin}")],
        &["127.75.1.1", "127.75.1.2"],
        "off",
    );
    edge.publish(&[&a]).await;
    let client = client_socket().await;
    for ip in ["127.75.1.1", "127.75.1.2"] {
        let edge_addr = sa(&format!("{ip}:5300"));
        let (reply, from) = exchange(&client, edge_addr, b"ping")
            .await
            .expect("a reply");
        assert_eq!(reply, b"A:ping");
        assert_eq!(
            from, edge_addr,
            "the reply comes from the address the client used"
        );
    }
    let listeners = proxy_status(&edge.status, &a.id);
    assert_eq!(listeners.len(), 2);
    assert!(listeners
        .iter()
        .all(|l| l.transport == model::Transport::Udp && l.error.is_none()));
    edge.stop().await;
}

#[tokio::test]
async fn a_port_range_maps_edge_ports_onto_origin_ports_and_ipv6_works() {
    for (i, port) in (7300..7303).enumerate() {
        tagged_udp(&format!("127.76.1.1:{port}"), [b"0", b"1", b"2"][i]).await;
    }
    let edge = Edge::start(options());
    let a = udp_app(
        'a',
        "udp/5301-5303",
        &["udp://127.76.1.1:7300-7302".into()],
        &["127.75.2.1"],
        "off",
    );
    let port6 = free_port("::1");
    let v6_origin = tagged_udp("[::1]:0", b"6").await;
    let b = udp_app(
        'b',
        &format!("udp/{port6}"),
        &[format!("udp://{v6_origin}")],
        &["::1"],
        "off",
    );
    edge.publish(&[&a, &b]).await;
    let client = client_socket().await;
    for (i, port) in (5301..5304).enumerate() {
        let (reply, _) = exchange(&client, sa(&format!("127.75.2.1:{port}")), b"x")
            .await
            .unwrap();
        assert_eq!(reply, format!("{i}x").as_bytes());
    }
    let client6 = UdpSocket::bind("[::1]:0").await.unwrap();
    let (reply, _) = exchange(
        &client6,
        SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), port6),
        b"y",
    )
    .await
    .unwrap();
    assert_eq!(reply, b"6y");
    edge.stop().await;
}

#[tokio::test]
async fn many_clients_each_get_only_their_own_replies() {
    let origin = tagged_udp("127.0.0.1:0", b"").await;
    let edge = Edge::start(options());
    let a = udp_app(
        'a',
        "udp/5304",
        &[format!("udp://{origin}")],
        &["127.75.3.1"],
        "off",
    );
    edge.publish(&[&a]).await;
    let mut tasks = Vec::new();
    for i in 0..50 {
        tasks.push(tokio::spawn(async move {
            let client = client_socket().await;
            for round in 0..5 {
                let message = format!("client {i} round {round}");
                let (reply, _) = exchange(&client, sa("127.75.3.1:5304"), message.as_bytes())
                    .await
                    .expect("reply");
                assert_eq!(reply, message.as_bytes());
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    edge.stop().await;
}

#[tokio::test]
async fn idle_flows_expire_and_are_logged_with_bytes_and_datagrams() {
    let (origin, seen) = recording_udp().await;
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("access.jsonl");
    let options = Options {
        udp_idle_timeout: Duration::from_millis(300),
        ..options()
    };
    let edge = Edge::start_with_log(options, Some(proxy::AccessLog::open(&log_path).unwrap()));
    let a = udp_app(
        'a',
        "udp/5305",
        &[format!("udp://{origin}")],
        &["127.75.4.1"],
        "off",
    );
    edge.publish(&[&a]).await;
    let client = client_socket().await;
    client.send_to(b"one", "127.75.4.1:5305").await.unwrap();
    client.send_to(b"two", "127.75.4.1:5305").await.unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    client.send_to(b"three", "127.75.4.1:5305").await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[0].0, seen[1].0, "one flow, one origin-side socket");
    assert_ne!(seen[1].0, seen[2].0, "a new flow after the idle timeout");
    let log = std::fs::read_to_string(&log_path).unwrap();
    let line: serde_json::Value =
        serde_json::from_str(log.lines().next().expect("the flow end was logged")).unwrap();
    assert_eq!(line["ClientProto"], "udp");
    assert_eq!(line["IpProtocol"], 17);
    assert_eq!(line["ClientBytes"], 6);
    assert_eq!(line["ClientPackets"], 2);
    assert_eq!(line["OriginPackets"], 0);
    assert_eq!(line["Status"], 200);
    edge.stop().await;
}

/// The test's own reading of a Simple Proxy Protocol header (independent of the encoder).
fn read_spp(d: &[u8]) -> (IpAddr, IpAddr, u16, u16) {
    assert_eq!(&d[0..2], &[0x56, 0xEC]);
    let ip = |b: &[u8]| {
        let v6 = Ipv6Addr::from(<[u8; 16]>::try_from(b).unwrap());
        v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4)
    };
    (
        ip(&d[2..18]),
        ip(&d[18..34]),
        u16::from_be_bytes([d[34], d[35]]),
        u16::from_be_bytes([d[36], d[37]]),
    )
}

#[tokio::test]
async fn simple_proxy_protocol_both_ways() {
    // The origin checks the header, answers with the same header in front, then sends one
    // reply with a broken header, which must never reach the client.
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let origin = socket.local_addr().unwrap();
    let headers = Arc::new(Mutex::new(Vec::new()));
    let log = headers.clone();
    tokio::spawn(async move {
        let mut buf = [0u8; 2048];
        while let Ok((n, from)) = socket.recv_from(&mut buf).await {
            log.lock().unwrap().push(read_spp(&buf[..n]));
            let mut broken = buf[..n].to_vec();
            broken[0] = 0;
            let _ = socket.send_to(&broken, from).await;
            let mut reply = buf[..38].to_vec();
            reply.extend_from_slice(b"pong:");
            reply.extend_from_slice(&buf[38..n]);
            let _ = socket.send_to(&reply, from).await;
        }
    });
    let edge = Edge::start(options());
    let a = udp_app(
        'a',
        "udp/5306",
        &[format!("udp://{origin}")],
        &["127.75.5.1"],
        "simple",
    );
    edge.publish(&[&a]).await;
    let client = client_socket().await;
    let (reply, _) = exchange(&client, sa("127.75.5.1:5306"), b"ping")
        .await
        .unwrap();
    assert_eq!(
        reply, b"pong:ping",
        "the header is stripped; the broken reply dropped"
    );
    let me = client.local_addr().unwrap();
    assert_eq!(
        headers.lock().unwrap()[0],
        (me.ip(), ip("127.75.5.1"), me.port(), 5306)
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(edge.counters.spp_malformed.load(Ordering::SeqCst), 1);
    edge.stop().await;
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[tokio::test]
async fn proxy_v2_heads_only_the_first_datagram_of_a_flow() {
    let (origin, seen) = recording_udp().await;
    let edge = Edge::start(options());
    let a = udp_app(
        'a',
        "udp/5307",
        &[format!("udp://{origin}")],
        &["127.75.6.1"],
        "v2",
    );
    edge.publish(&[&a]).await;
    let client = client_socket().await;
    client.send_to(b"first", "127.75.6.1:5307").await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    client.send_to(b"second", "127.75.6.1:5307").await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    let first = &seen[0].1;
    match ppp::v2::Header::try_from(first.as_slice()) {
        Ok(header) => {
            assert_eq!(header.protocol, ppp::v2::Protocol::Datagram);
            let me = client.local_addr().unwrap();
            match header.addresses {
                ppp::v2::Addresses::IPv4(a) => {
                    assert_eq!(SocketAddr::from((a.source_address, a.source_port)), me);
                    assert_eq!(
                        SocketAddr::from((a.destination_address, a.destination_port)),
                        sa("127.75.6.1:5307")
                    );
                }
                other => panic!("{other:?}"),
            }
            assert_eq!(&first[header.len()..], b"first");
        }
        Err(e) => panic!("not a PROXY v2 header: {e:?}"),
    }
    assert_eq!(seen[1].1, b"second");
    edge.stop().await;
}

#[tokio::test]
async fn flows_spread_over_origins_and_a_refusing_origin_is_ejected() {
    let a_origin = tagged_udp("127.0.0.1:0", b"A").await;
    let b_origin = tagged_udp("127.0.0.1:0", b"B").await;
    let edge = Edge::start(options());
    let app_ab = udp_app(
        'a',
        "udp/5308",
        &[format!("udp://{a_origin}"), format!("udp://{b_origin}")],
        &["127.75.7.1"],
        "off",
    );
    edge.publish(&[&app_ab]).await;
    let mut clients = Vec::new();
    let (mut a, mut b) = (0, 0);
    for _ in 0..20 {
        let client = client_socket().await;
        let (reply, _) = exchange(&client, sa("127.75.7.1:5308"), b"x")
            .await
            .unwrap();
        if reply[0] == b'A' {
            a += 1
        } else {
            b += 1
        }
        // A client stays on its origin for the life of its flow.
        for _ in 0..3 {
            assert_eq!(
                exchange(&client, sa("127.75.7.1:5308"), b"x")
                    .await
                    .unwrap()
                    .0[0],
                reply[0]
            );
        }
        clients.push(client);
    }
    assert!(a >= 5 && b >= 5, "A {a} B {b}");

    let dead = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let app_dead = udp_app(
        'b',
        "udp/5309",
        &[format!("udp://{dead}"), format!("udp://{a_origin}")],
        &["127.75.7.1"],
        "off",
    );
    edge.publish(&[&app_ab, &app_dead]).await;
    // Whatever the first flows hit, once the dead origin refused it is ejected, so within a few
    // tries every client reaches the live one.
    for _ in 0..4 {
        let client = client_socket().await;
        let mut answered = false;
        for _ in 0..3 {
            // Quicker than the 1 s ejection, so the retry cannot land on the dead origin again.
            if exchange_within(
                &client,
                sa("127.75.7.1:5309"),
                b"y",
                Duration::from_millis(200),
            )
            .await
            .is_some()
            {
                answered = true;
                break;
            }
        }
        assert!(answered, "the refusing origin was not ejected");
    }
    edge.stop().await;
}

#[tokio::test]
async fn the_flow_limit_drops_new_flows_and_keeps_existing_ones() {
    let origin = tagged_udp("127.0.0.1:0", b"L").await;
    let edge = Edge::start(Options {
        udp_max_flows: 2,
        ..options()
    });
    let a = udp_app(
        'a',
        "udp/5310",
        &[format!("udp://{origin}")],
        &["127.75.8.1"],
        "off",
    );
    edge.publish(&[&a]).await;
    let (one, two, three) = (
        client_socket().await,
        client_socket().await,
        client_socket().await,
    );
    assert!(exchange(&one, sa("127.75.8.1:5310"), b"1").await.is_some());
    assert!(exchange(&two, sa("127.75.8.1:5310"), b"2").await.is_some());
    assert!(
        exchange(&three, sa("127.75.8.1:5310"), b"3")
            .await
            .is_none(),
        "over the limit"
    );
    assert!(edge.counters.udp_flows_refused.load(Ordering::SeqCst) >= 1);
    assert!(
        exchange(&one, sa("127.75.8.1:5310"), b"1").await.is_some(),
        "existing flows work"
    );
    edge.stop().await;
}

#[tokio::test]
async fn deleting_a_udp_app_stops_its_listener_at_once() {
    let origin = tagged_udp("127.0.0.1:0", b"D").await;
    let edge = Edge::start(options());
    let a = udp_app(
        'a',
        "udp/5311",
        &[format!("udp://{origin}")],
        &["127.75.9.1"],
        "off",
    );
    edge.publish(&[&a]).await;
    let client = client_socket().await;
    assert!(exchange(&client, sa("127.75.9.1:5311"), b"x")
        .await
        .is_some());
    edge.publish(&[]).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(exchange(&client, sa("127.75.9.1:5311"), b"x")
        .await
        .is_none());
    // The port is free again: nothing holds it.
    std::net::UdpSocket::bind("127.75.9.1:5311").expect("released");
    edge.stop().await;
}

#[tokio::test]
async fn an_app_that_changes_transport_moves_its_sockets() {
    let tcp_origin = tagged_echo("127.0.0.1:0", "T").await;
    let udp_origin = tagged_udp("127.0.0.1:0", b"U").await;
    let edge = Edge::start(options());
    let as_tcp = app(
        'a',
        json!({"protocol": "tcp/5312", "dns": {"name": "m.example.com"},
                                 "origin_direct": [format!("tcp://{tcp_origin}")]}),
        &["127.75.10.1"],
    );
    edge.publish(&[&as_tcp]).await;
    assert_eq!(connect_tagged(sa("127.75.10.1:5312"), 1).await.0, "T");
    let as_udp = udp_app(
        'a',
        "udp/5312",
        &[format!("udp://{udp_origin}")],
        &["127.75.10.1"],
        "off",
    );
    edge.publish(&[&as_udp]).await;
    let client = client_socket().await;
    assert_eq!(
        exchange(&client, sa("127.75.10.1:5312"), b"x")
            .await
            .unwrap()
            .0,
        b"Ux"
    );
    assert!(
        tokio::net::TcpStream::connect("127.75.10.1:5312")
            .await
            .is_err(),
        "the TCP socket is gone"
    );
    let listeners = proxy_status(&edge.status, &as_udp.id);
    assert_eq!(listeners.len(), 1);
    assert_eq!(listeners[0].transport, model::Transport::Udp);
    edge.stop().await;
}
