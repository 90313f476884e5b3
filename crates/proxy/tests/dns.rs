//! `origin_dns` against a DNS server run by the test: A, AAAA, both, SRV, ttl expiry and
//! refresh failure, and names that never resolve.

mod common;

use common::dns_server::DnsServer;
use common::*;
use proxy::Options;
use serde_json::json;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::net::TcpStream;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn dns_options(dns: &DnsServer) -> Options {
    Options {
        resolver: Some(dns.addr),
        origin_dns_max_ttl: Some(Duration::from_millis(500)),
        ..options()
    }
}

fn dns_app(
    id: char,
    port: u16,
    origin_dns: serde_json::Value,
    origin_port: Option<u16>,
    edge: &str,
) -> model::App {
    let mut config = json!({"protocol": format!("tcp/{port}"), "dns": {"name": "d.example.com"}, "origin_dns": origin_dns});
    if let Some(p) = origin_port {
        config["origin_port"] = json!(p);
    }
    app(id, config, &[edge])
}

#[tokio::test]
async fn a_aaaa_and_both_resolve_to_the_right_origins() {
    let dns = DnsServer::start().await;
    let v4 = tagged_echo("127.74.1.1:0", "4").await;
    let v6 = tagged_echo("[::1]:0", "6").await;
    dns.set_ips("v4.example.com", &[ip("127.74.1.1")]);
    dns.set_ips("v6.example.com", &[ip("::1")]);
    dns.set_ips("both.example.com", &[ip("127.74.1.1")]);
    let edge = Edge::start(dns_options(&dns));
    let a = dns_app(
        'a',
        6100,
        json!({"name": "v4.example.com", "type": "A"}),
        Some(v4.port()),
        "127.71.20.1",
    );
    let b = dns_app(
        'b',
        6101,
        json!({"name": "v6.example.com", "type": "AAAA", "ttl": 600}),
        Some(v6.port()),
        "127.71.20.1",
    );
    let c = dns_app(
        'c',
        6102,
        json!({"name": "both.example.com", "type": ""}),
        Some(v4.port()),
        "127.71.20.1",
    );
    edge.publish(&[&a, &b, &c]).await;
    assert_eq!(connect_tagged(sa("127.71.20.1:6100"), 1).await.0, "4");
    assert_eq!(connect_tagged(sa("127.71.20.1:6101"), 1).await.0, "6");
    assert_eq!(connect_tagged(sa("127.71.20.1:6102"), 1).await.0, "4");
    edge.stop().await;
}

#[tokio::test]
async fn srv_records_give_priority_weight_and_port() {
    let dns = DnsServer::start().await;
    let first = tagged_echo("127.74.2.1:0", "P").await;
    let backup = tagged_echo("127.74.2.2:0", "B").await;
    dns.set_ips("primary.example.com", &[ip("127.74.2.1")]);
    dns.set_ips("backup.example.com", &[ip("127.74.2.2")]);
    dns.set_srv(
        "_svc._tcp.example.com",
        &[
            (20, 0, backup.port(), "backup.example.com"),
            (10, 5, first.port(), "primary.example.com"),
        ],
    );
    let edge = Edge::start(dns_options(&dns));
    let a = dns_app(
        'a',
        6103,
        json!({"name": "_svc._tcp.example.com", "type": "SRV"}),
        None,
        "127.71.21.1",
    );
    edge.publish(&[&a]).await;
    for _ in 0..5 {
        assert_eq!(
            connect_tagged(sa("127.71.21.1:6103"), 1).await.0,
            "P",
            "priority 10 first"
        );
    }
    // When the preferred target refuses, the next priority takes over.
    let dead = free_port("127.74.2.1");
    dns.set_srv(
        "_dead._tcp.example.com",
        &[
            (10, 0, dead, "primary.example.com"),
            (20, 0, backup.port(), "backup.example.com"),
        ],
    );
    let b = dns_app(
        'b',
        6106,
        json!({"name": "_dead._tcp.example.com", "type": "SRV"}),
        None,
        "127.71.21.1",
    );
    edge.publish(&[&a, &b]).await;
    assert_eq!(connect_tagged(sa("127.71.21.1:6106"), 1).await.0, "B");
    edge.stop().await;
}

#[tokio::test]
async fn answers_expire_with_the_ttl_and_a_failed_refresh_keeps_the_last_one() {
    let dns = DnsServer::start().await;
    let port = free_port("127.74.3.1");
    let _one = tagged_echo(&format!("127.74.3.1:{port}"), "1").await;
    let _two = tagged_echo(&format!("127.74.3.2:{port}"), "2").await;
    dns.set_ips("moving.example.com", &[ip("127.74.3.1")]);
    let edge = Edge::start(dns_options(&dns));
    let a = dns_app(
        'a',
        6104,
        json!({"name": "moving.example.com", "type": "A"}),
        Some(port),
        "127.71.22.1",
    );
    edge.publish(&[&a]).await;
    assert_eq!(connect_tagged(sa("127.71.22.1:6104"), 1).await.0, "1");

    dns.set_ips("moving.example.com", &[ip("127.74.3.2")]);
    let mut moved = false;
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if connect_tagged(sa("127.71.22.1:6104"), 1).await.0 == "2" {
            moved = true;
            break;
        }
    }
    assert!(
        moved,
        "the new answer is used once the old one's ttl ran out"
    );

    dns.fail(true);
    let asked = dns.queries.load(std::sync::atomic::Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(
        dns.queries.load(std::sync::atomic::Ordering::SeqCst) > asked,
        "it kept asking"
    );
    assert_eq!(
        connect_tagged(sa("127.71.22.1:6104"), 1).await.0,
        "2",
        "last good answer kept"
    );
    edge.stop().await;
}

#[tokio::test]
async fn a_name_that_never_resolved_closes_connections_at_once() {
    let dns = DnsServer::start().await;
    let edge = Edge::start(Options {
        connect_timeout: Duration::from_secs(10),
        ..dns_options(&dns)
    });
    let a = dns_app(
        'a',
        6105,
        json!({"name": "nowhere.example.com"}),
        Some(22),
        "127.71.23.1",
    );
    edge.publish(&[&a]).await;
    let started = std::time::Instant::now();
    let mut client = TcpStream::connect("127.71.23.1:6105").await.unwrap();
    assert!(closed_within(&mut client, Duration::from_secs(5)).await);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    edge.stop().await;
}

#[tokio::test]
async fn a_retune_that_keeps_the_origin_keeps_its_answer() {
    let dns = DnsServer::start().await;
    let origin = tagged_echo("127.74.4.1:0", "K").await;
    dns.set_ips("kept.example.com", &[ip("127.74.4.1")]);
    let edge = Edge::start(Options {
        origin_dns_max_ttl: None,
        ..dns_options(&dns)
    });
    let before = dns_app(
        'a',
        6107,
        json!({"name": "kept.example.com", "type": "A"}),
        Some(origin.port()),
        "127.71.24.1",
    );
    edge.publish(&[&before]).await;
    assert_eq!(connect_tagged(sa("127.71.24.1:6107"), 1).await.0, "K");
    // Let any retransmitted query of the first resolution land before counting.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let asked = dns.queries.load(std::sync::atomic::Ordering::SeqCst);
    let mut config = serde_json::to_value(&before.config).unwrap();
    config["proxy_protocol"] = json!("off");
    config["ip_firewall"] = json!(true);
    let after = app('a', config, &["127.71.24.1"]);
    edge.publish(&[&after]).await;
    assert_eq!(connect_tagged(sa("127.71.24.1:6107"), 1).await.0, "K");
    assert_eq!(
        dns.queries.load(std::sync::atomic::Ordering::SeqCst),
        asked,
        "no new resolution"
    );
    edge.stop().await;
}
