//! Dynamic edge addresses per hostname, and (address, transport, port) conflicts between apps.

use model::*;
use serde_json::json;
use std::net::IpAddr;

fn config(name: &str, protocol: &str, connectivity: &str) -> AppConfig {
    let transport = &protocol[..3];
    AppConfig::from_json(json!({
        "protocol": protocol,
        "dns": {"name": name},
        "edge_ips": {"type": "dynamic", "connectivity": connectivity},
        "origin_direct": [format!("{transport}://127.0.0.1:{}", &protocol[4..])],
    }))
    .unwrap()
}

fn app(id: char, config: AppConfig, edge: &[&str]) -> App {
    App::new(
        id.to_string().repeat(32),
        "0".repeat(32),
        chrono::Utc::now(),
        config,
        ips(edge),
    )
}

/// `assign_edge_addresses` among `others` (an update's `previous` is not one of them).
fn assign(
    config: &AppConfig,
    previous: Option<&App>,
    others: &[&App],
    policy: &Policy,
) -> Result<Vec<IpAddr>, Invalid> {
    assign_edge_addresses(
        config,
        previous,
        &EdgeIndex::of(others.iter().copied()),
        policy,
    )
}

fn ips(list: &[&str]) -> Vec<IpAddr> {
    list.iter().map(|a| a.parse().unwrap()).collect()
}

#[test]
fn a_new_hostname_gets_a_free_address_of_each_family() {
    let policy = Policy::default();
    let first = assign(
        &config("a.example.com", "tcp/22", "all"),
        None,
        &[],
        &policy,
    )
    .unwrap();
    assert_eq!(first, ips(&["127.0.1.1", "::1"]));
    let a = app(
        'a',
        config("a.example.com", "tcp/22", "all"),
        &["127.0.1.1", "::1"],
    );
    // Another hostname gets its own IPv4; the one-address IPv6 pool cannot take tcp/22 again.
    let second = assign(
        &config("b.example.com", "tcp/22", "all"),
        None,
        &[&a],
        &policy,
    )
    .unwrap();
    assert_eq!(second, ips(&["127.0.1.2"]));
    // On another port it shares ::1.
    let third = assign(
        &config("c.example.com", "tcp/23", "all"),
        None,
        &[&a],
        &policy,
    )
    .unwrap();
    assert_eq!(third, ips(&["127.0.1.2", "::1"]));
    let v6 = assign(
        &config("d.example.com", "tcp/22", "ipv6"),
        None,
        &[&a],
        &policy,
    );
    assert_eq!(v6.unwrap_err().code, codes::EDGE_POOL_EXHAUSTED);
}

#[test]
fn apps_of_one_hostname_share_its_addresses_and_must_differ_in_port() {
    let policy = Policy::default();
    let a = app(
        'a',
        config("ssh.example.com", "tcp/22", "all"),
        &["127.0.1.9", "::1"],
    );
    let shared = assign(
        &config("SSH.example.com", "tcp/2222", "ipv4"),
        None,
        &[&a],
        &policy,
    )
    .unwrap();
    assert_eq!(shared, ips(&["127.0.1.9"]));
    let err = assign(
        &config("ssh.example.com", "tcp/20-30", "ipv4"),
        None,
        &[&a],
        &policy,
    )
    .unwrap_err();
    assert_eq!(err.code, codes::PROTOCOL);
    assert!(
        err.message.contains(&a.id) && err.message.contains("ssh.example.com"),
        "{}",
        err.message
    );
    // UDP on the same port is another socket.
    assign(
        &config("ssh.example.com", "udp/22", "ipv4"),
        None,
        &[&a],
        &policy,
    )
    .unwrap();
}

#[test]
fn an_update_keeps_its_addresses() {
    let policy = Policy::default();
    let before = app(
        'a',
        config("a.example.com", "tcp/22", "all"),
        &["127.0.1.7", "::1"],
    );
    let other = app(
        'b',
        config("b.example.com", "tcp/80", "all"),
        &["127.0.1.1", "::1"],
    );
    let after = assign(
        &config("a.example.com", "tcp/2222", "all"),
        Some(&before),
        &[&other],
        &policy,
    )
    .unwrap();
    assert_eq!(after, ips(&["127.0.1.7", "::1"]));
}

#[test]
fn static_addresses_conflict_with_whatever_claims_the_same_socket() {
    let policy = Policy::default();
    let a = app(
        'a',
        config("a.example.com", "tcp/22", "ipv4"),
        &["127.0.1.1"],
    );
    let static_config = AppConfig::from_json(json!({
        "protocol": "tcp/22", "dns": {"name": "s.example.com"},
        "edge_ips": {"type": "static", "ips": ["127.0.5.5", "127.0.1.1"]},
        "origin_direct": ["tcp://127.0.0.1:9"],
    }))
    .unwrap();
    let err = assign(&static_config, None, &[&a], &policy).unwrap_err();
    assert!(err.message.contains("127.0.1.1"), "{}", err.message);
}

#[test]
fn a_full_pool_is_12005() {
    let policy = Policy {
        ipv4_pool: "127.0.9.1/32".parse().unwrap(),
        ..Policy::default()
    };
    let a = app(
        'a',
        config("a.example.com", "tcp/22", "ipv4"),
        &["127.0.9.1"],
    );
    let err = assign(
        &config("b.example.com", "tcp/22", "ipv4"),
        None,
        &[&a],
        &policy,
    )
    .unwrap_err();
    assert_eq!(err.code, codes::EDGE_POOL_EXHAUSTED);
    // Another port still fits on the shared address.
    let ok = assign(
        &config("b.example.com", "tcp/23", "ipv4"),
        None,
        &[&a],
        &policy,
    )
    .unwrap();
    assert_eq!(ok, ips(&["127.0.9.1"]));
}
