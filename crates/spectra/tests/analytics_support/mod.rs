//! What the analytics tests share: origins with known answers, a client exchange of known
//! bytes and duration, apps on static edge IPs, and the analytics API.
#![allow(dead_code)]

pub use crate::common::udp_echo;
use crate::common::{send, zone_and_token, Node};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// An origin that reads 100 bytes, answers 250, then waits for the client to close.
pub async fn origin() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut got = [0u8; 100];
                if s.read_exact(&mut got).await.is_ok() {
                    let _ = s.write_all(&[7u8; 250]).await;
                    let mut rest = [0u8; 64];
                    while matches!(s.read(&mut rest).await, Ok(n) if n > 0) {}
                }
            });
        }
    });
    addr
}

/// One connection through `edge`: 100 bytes up, 250 down, held `hold` before closing.
pub async fn exchange(edge: SocketAddr, hold: Duration) {
    let mut s = None;
    for _ in 0..100 {
        if let Ok(c) = TcpStream::connect(edge).await {
            s = Some(c);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut s = s.expect("the edge listens");
    s.write_all(&[1u8; 100]).await.unwrap();
    let mut got = [0u8; 250];
    s.read_exact(&mut got).await.unwrap();
    tokio::time::sleep(hold).await;
}

pub fn app(protocol: &str, edge: &str, origin: &str) -> Value {
    json!({
        "protocol": protocol,
        "dns": {"type": "ADDRESS", "name": format!("{}.example.com", protocol.replace('/', "-"))},
        "origin_direct": [origin],
        "edge_ips": {"type": "static", "ips": [edge]},
    })
}

pub struct Api {
    pub base: String,
    pub zone: String,
    pub token: String,
}

impl Api {
    pub async fn get(&self, path: &str, query: &[(&str, &str)]) -> (StatusCode, Value) {
        send(
            reqwest::Client::new()
                .get(format!(
                    "{}/zones/{}/spectrum/analytics/{path}",
                    self.base, self.zone
                ))
                .query(query)
                .bearer_auth(&self.token),
        )
        .await
    }

    pub async fn create(&self, app: Value) -> String {
        let (status, body) = send(
            reqwest::Client::new()
                .post(format!("{}/zones/{}/spectrum/apps", self.base, self.zone))
                .bearer_auth(&self.token)
                .json(&app),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["result"]["id"].as_str().unwrap().to_owned()
    }

    /// `summary` rows as (dimension values, metric values).
    pub async fn summary(&self, query: &[(&str, &str)]) -> Vec<(Vec<String>, Vec<f64>)> {
        let (status, body) = self.get("events/summary", query).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["result"]["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|row| {
                let dims = row["dimensions"].as_array().unwrap();
                let metrics = row["metrics"].as_array().unwrap();
                (
                    dims.iter()
                        .map(|d| d.as_str().unwrap().to_owned())
                        .collect(),
                    metrics.iter().map(|m| m.as_f64().unwrap()).collect(),
                )
            })
            .collect()
    }
}

pub fn node(dir: &std::path::Path, extra: &[&str]) -> (Node, Api) {
    let (zone, token) = zone_and_token(dir);
    let node = Node::with(dir, extra);
    let api = Api {
        base: node.base.clone(),
        zone,
        token,
    };
    (node, api)
}

/// The metrics of the `(app, event)` row of a summary by app and event.
pub fn metrics_of(rows: &[(Vec<String>, Vec<f64>)], app: &str, event: &str) -> Vec<f64> {
    rows.iter()
        .find(|(d, _)| d[0] == app && d[1] == event)
        .map(|(_, m)| m.clone())
        .unwrap_or_else(|| panic!("no {event} row for {app}: {rows:?}"))
}

/// `io` within 10 s: a lost datagram or a stalled relay fails the test instead of hanging it.
pub async fn within<T>(io: impl std::future::Future<Output = std::io::Result<T>>) -> T {
    tokio::time::timeout(Duration::from_secs(10), io)
        .await
        .expect("no answer within 10 s")
        .expect("the exchange failed")
}

/// Waits until the node has bound the UDP edge `addr` (binding it here then fails), so no probe
/// datagram adds to the app's figures.
pub async fn udp_bound(addr: &str) {
    for _ in 0..250 {
        if std::net::UdpSocket::bind(addr).is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no UDP listener on {addr} after 5 s");
}
