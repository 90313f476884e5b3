//! `--workers`: with N edge workers every listener is bound N times (`SO_REUSEPORT`), TCP and
//! UDP alike, and every connection and flow is served; with 1, once.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::json;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// The sockets of this network namespace bound to `addr` (`tcp`: listening ones).
fn sockets_on(proto: &str, addr: SocketAddrV4) -> usize {
    // /proc/net/{tcp,udp}: "local_address" is the IPv4 address in host order as hex (little
    // endian here), then the port in hex; state 0A is LISTEN.
    let local = format!(
        "{:08X}:{:04X}",
        u32::from(*addr.ip()).swap_bytes(),
        addr.port()
    );
    std::fs::read_to_string(format!("/proc/net/{proto}"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .filter(|f| f[1] == local && (proto == "udp" || f[3] == "0A"))
        .count()
}

async fn node_with_workers(workers: &str, ip: Ipv4Addr) -> (Node, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let (zone, token) = zone_and_token(dir.path());
    let node = Node::with(dir.path(), &["--workers", workers]);
    let origin = tagged("127.0.0.1:0", b"T").await;
    let echo = udp_echo().await;
    for (protocol, origin) in [
        ("tcp/7700", format!("tcp://{origin}")),
        ("udp/7700", format!("udp://{echo}")),
    ] {
        let (status, body) = send(
            reqwest::Client::new()
                .post(format!("{}/zones/{zone}/spectrum/apps", node.base))
                .bearer_auth(&token)
                .json(&json!({"protocol": protocol,
                    "dns": {"type": "ADDRESS", "name": "w.example.com"},
                    "edge_ips": {"type": "static", "ips": [ip.to_string()]},
                    "origin_direct": [origin]})),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let edge = SocketAddrV4::new(ip, 7700);
    for _ in 0..100 {
        if sockets_on("tcp", edge) > 0 && sockets_on("udp", edge) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (node, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_worker_binds_every_listener_and_serves_connections_and_flows() {
    let ip = Ipv4Addr::new(127, 77, 0, 1);
    let edge = SocketAddrV4::new(ip, 7700);
    let (_node, _dir) = node_with_workers("3", ip).await;
    assert_eq!(sockets_on("tcp", edge), 3, "a TCP listener per worker");
    assert_eq!(sockets_on("udp", edge), 3, "a UDP socket per worker");

    // Every connection is served, whichever worker the kernel hands it to.
    for i in 0..60u8 {
        let mut s = TcpStream::connect(edge).await.unwrap();
        let mut got = [0u8; 2];
        s.write_all(&[i]).await.unwrap();
        tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut got))
            .await
            .expect("an answer within 5 s")
            .unwrap();
        assert_eq!(got, [b'T', i]);
    }
    // Every flow too, each answered on the socket it came in on.
    for i in 0..30u8 {
        let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let mut buf = [0u8; 16];
        for round in 0..2u8 {
            client.send_to(&[i, round], edge).await.unwrap();
            let (n, from) =
                tokio::time::timeout(Duration::from_secs(5), client.recv_from(&mut buf))
                    .await
                    .expect("an answer within 5 s")
                    .unwrap();
            assert_eq!((&buf[..n], from), (&[i, round][..], edge.into()));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_worker_binds_each_listener_once() {
    let ip = Ipv4Addr::new(127, 77, 0, 2);
    let edge = SocketAddrV4::new(ip, 7700);
    let (_node, _dir) = node_with_workers("1", ip).await;
    assert_eq!(sockets_on("tcp", edge), 1);
    assert_eq!(sockets_on("udp", edge), 1);
    assert_eq!(tag_at(edge.into()).await, Some(b'T'));
}
