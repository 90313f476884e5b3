//! UDP origins and clients for tests: echoing and recording origins, exchanges with timeouts.
#![allow(dead_code)]

use super::app;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::UdpSocket;

pub fn udp_app(
    id: char,
    protocol: &str,
    origins: &[String],
    edge: &[&str],
    proxy_protocol: &str,
) -> model::App {
    app(
        id,
        serde_json::json!({"protocol": protocol, "dns": {"name": format!("{id}.example.com")},
               "origin_direct": origins, "proxy_protocol": proxy_protocol}),
        edge,
    )
}

/// An origin that answers each datagram with `tag` followed by the datagram.
pub async fn tagged_udp(addr: &str, tag: &'static [u8]) -> SocketAddr {
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
pub async fn recording_udp() -> (SocketAddr, Arc<Mutex<Vec<(SocketAddr, Vec<u8>)>>>) {
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
pub async fn exchange(
    client: &UdpSocket,
    edge: SocketAddr,
    data: &[u8],
) -> Option<(Vec<u8>, SocketAddr)> {
    exchange_within(client, edge, data, Duration::from_secs(2)).await
}

pub async fn exchange_within(
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

pub async fn client_socket() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0").await.unwrap()
}
