//! The UDP data plane over real loopback sockets: flows per client, ranges, idle expiry, Simple
//! Proxy Protocol both ways, PROXY v2 on the first datagram, balancing and ejection, the flow
//! limit, and IPv6.

mod common;

use common::udp_kit::*;
use common::*;
use proxy::Options;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::UdpSocket;

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
