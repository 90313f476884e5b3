//! Helpers of the DNS tests through `spectra serve`: API calls, apps, and answers awaited.
#![allow(dead_code)]

use crate::common::{send, Node};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

#[path = "../../../dns/tests/common/mod.rs"]
pub mod dns_common;

use dns_common::lookup;

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

pub async fn api(
    node: &Node,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Value {
    let mut request = reqwest::Client::new()
        .request(method, format!("{}{path}", node.base))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let (status, body) = send(request).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// How long until `name` answers `want` (A and AAAA) at `dns`, failing past `within`.
pub async fn answers_within(
    dns: SocketAddr,
    name: &str,
    want: &[&str],
    within: Duration,
) -> Duration {
    let want: Vec<IpAddr> = want.iter().map(|s| ip(s)).collect();
    let started = Instant::now();
    loop {
        let got = lookup(dns, name).await;
        if got == want {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "{name}: {got:?} after {within:?}, not {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn app(name: &str, port: u16, edge_ips: Value) -> Value {
    let kind = if edge_ips["type"] == "static" {
        "ADDRESS"
    } else {
        "CNAME"
    };
    json!({"protocol": format!("tcp/{port}"), "dns": {"type": kind, "name": name},
           "origin_direct": ["tcp://127.0.0.1:9"], "edge_ips": edge_ips})
}
