//! DNS through `spectra serve`: the embedded server answers each app hostname with its live
//! edge addresses and follows API changes within a second, leaves out listeners in error and
//! silent fleet nodes; the status extension, `dns_records` and `spectra dns records` show what
//! is published; bad DNS settings stop the start.

mod common;
mod dns_support;

use common::*;
use dns_support::dns_common::{self, addresses, ask};
use dns_support::{answers_within, api, app, ip};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{RData, RecordType};
use serde_json::json;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_follow_the_api_within_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let (zone, token) = zone_and_token(dir.path());
    let mut node = Node::with(
        dir.path(),
        &[
            "--edge-ipv4-pool",
            "127.62.0.0/24",
            "--edge-static-allow",
            "127.62.0.0/16,::1/128",
            "--dns-listen",
            "127.0.0.1:0",
            "--dns-ttl",
            "17",
            "--dns-nameservers",
            "ns1.example.net,ns2.example.net",
        ],
    );
    let dns = node.dns_addr();
    let apps = format!("/zones/{zone}/spectrum/apps");
    let post = reqwest::Method::POST;
    let dynamic = api(
        &node,
        &token,
        post.clone(),
        &apps,
        Some(app(
            "ssh.example.com",
            2201,
            json!({"type": "dynamic", "connectivity": "all"}),
        )),
    )
    .await;
    let id = dynamic["result"]["id"].as_str().unwrap().to_owned();
    let took = answers_within(
        dns,
        "ssh.example.com.",
        &["127.62.0.1", "::1"],
        Duration::from_secs(1),
    )
    .await;
    eprintln!("a new app answered after {took:?}");
    api(
        &node,
        &token,
        post.clone(),
        &apps,
        Some(app(
            "static.example.com",
            2202,
            json!({"type": "static", "ips": ["127.62.1.5"]}),
        )),
    )
    .await;
    answers_within(
        dns,
        "static.example.com.",
        &["127.62.1.5"],
        Duration::from_secs(1),
    )
    .await;
    // The TTL and the apex come from the flags.
    let a = ask(dns, "ssh.example.com.", RecordType::A).await;
    assert!(a.authoritative());
    assert_eq!(a.answers()[0].ttl(), 17);
    let ns = ask(dns, "example.com.", RecordType::NS).await;
    let mut names: Vec<String> = ns.answers().iter().map(|r| r.data().to_string()).collect();
    names.sort();
    assert_eq!(names, ["ns1.example.net.", "ns2.example.net."]);
    let nx = ask(dns, "nope.example.com.", RecordType::A).await;
    assert_eq!(nx.response_code(), ResponseCode::NXDomain);
    let RData::SOA(soa) = nx.name_servers()[0].data() else {
        panic!("no SOA: {nx:?}")
    };
    assert_eq!(soa.mname().to_string(), "ns1.example.net.");
    assert_eq!(
        ask(dns, "example.org.", RecordType::A)
            .await
            .response_code(),
        ResponseCode::Refused
    );
    // What is published, three ways.
    let status = api(
        &node,
        &token,
        reqwest::Method::GET,
        &format!("{apps}/{id}/status"),
        None,
    )
    .await;
    assert_eq!(
        status["result"]["dns"],
        json!({"name": "ssh.example.com", "published": ["127.62.0.1", "::1"]})
    );
    let records = api(
        &node,
        &token,
        reqwest::Method::GET,
        &format!("/zones/{zone}/dns_records"),
        None,
    )
    .await;
    let listed: Vec<(String, String, String, u64)> = records["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().into(),
                r["type"].as_str().unwrap().into(),
                r["content"].as_str().unwrap().into(),
                r["ttl"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            (
                "ssh.example.com".into(),
                "A".into(),
                "127.62.0.1".into(),
                17
            ),
            ("ssh.example.com".into(), "AAAA".into(), "::1".into(), 17),
            (
                "static.example.com".into(),
                "A".into(),
                "127.62.1.5".into(),
                17
            ),
        ]
    );
    let out = std::process::Command::new(BIN)
        .args([
            "dns",
            "records",
            "--zone",
            "example.com",
            "--token",
            &token,
            "--api-url",
            &node.base,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8(out.stdout).unwrap();
    assert!(
        printed
            .lines()
            .any(|l| l.starts_with("static.example.com") && l.contains("127.62.1.5")),
        "{printed}"
    );
    // A rename moves the records within a second; a delete removes them.
    let renamed = app(
        "shell.example.com",
        2201,
        json!({"type": "dynamic", "connectivity": "ipv4"}),
    );
    api(
        &node,
        &token,
        reqwest::Method::PUT,
        &format!("{apps}/{id}"),
        Some(renamed),
    )
    .await;
    let took = answers_within(
        dns,
        "shell.example.com.",
        &["127.62.0.1"],
        Duration::from_secs(1),
    )
    .await;
    eprintln!("an update answered after {took:?}");
    assert_eq!(
        ask(dns, "ssh.example.com.", RecordType::A)
            .await
            .response_code(),
        ResponseCode::NXDomain
    );
    api(
        &node,
        &token,
        reqwest::Method::DELETE,
        &format!("{apps}/{id}"),
        None,
    )
    .await;
    answers_within(dns, "shell.example.com.", &[], Duration::from_secs(1)).await;
    assert_eq!(
        ask(dns, "shell.example.com.", RecordType::A)
            .await
            .response_code(),
        ResponseCode::NXDomain
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_in_error_is_not_published() {
    let dir = tempfile::tempdir().unwrap();
    let (zone, token) = zone_and_token(dir.path());
    let _holder = std::net::TcpListener::bind("127.62.2.1:2203").unwrap();
    let mut node = Node::with(
        dir.path(),
        &[
            "--edge-static-allow",
            "127.62.0.0/16",
            "--dns-listen",
            "127.0.0.1:0",
        ],
    );
    let dns = node.dns_addr();
    let apps = format!("/zones/{zone}/spectrum/apps");
    let held = api(
        &node,
        &token,
        reqwest::Method::POST,
        &apps,
        Some(app(
            "held.example.com",
            2203,
            json!({"type": "static", "ips": ["127.62.2.1", "127.62.2.2"]}),
        )),
    )
    .await;
    let id = held["result"]["id"].as_str().unwrap();
    // 127.62.2.2 binds; 127.62.2.1's port is held by another program.
    answers_within(
        dns,
        "held.example.com.",
        &["127.62.2.2"],
        Duration::from_secs(1),
    )
    .await;
    let status = api(
        &node,
        &token,
        reqwest::Method::GET,
        &format!("{apps}/{id}/status"),
        None,
    )
    .await;
    assert_eq!(
        status["result"]["listeners"][0]["state"], "error",
        "{status}"
    );
    assert_eq!(status["result"]["dns"]["published"], json!(["127.62.2.2"]));
    let a = ask(dns, "held.example.com.", RecordType::A).await;
    assert_eq!(addresses(&a), [ip("127.62.2.2")]);
}

#[test]
fn bad_dns_settings_stop_the_start_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let bad_key = dir.path().join("bad.key");
    std::fs::write(
        &bad_key,
        "key \"k\" { algorithm hmac-md5; secret \"AAAA\"; };",
    )
    .unwrap();
    let bad_key = bad_key.to_str().unwrap();
    let holder = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let held = holder.local_addr().unwrap().to_string();
    let cases: &[(&[&str], &str)] = &[
        (
            &["--dns-update-key", "/nonexistent"],
            "--dns-update-key needs --dns-update",
        ),
        (&["--dns-ttl", "999999"], "--dns-ttl 999999"),
        (&["--dns-nameservers", "bad..name"], "--dns-nameservers"),
        (
            &[
                "--dns-update",
                "127.0.0.1:9",
                "--dns-update-key",
                "/nonexistent",
            ],
            "cannot read --dns-update-key",
        ),
        (
            &["--dns-update", "127.0.0.1:9", "--dns-update-key", bad_key],
            "hmac-md5 is not supported",
        ),
        (&["--dns-listen", &held], "cannot listen for DNS"),
    ];
    for (flags, reason) in cases {
        let out = std::process::Command::new(BIN)
            .arg("serve")
            .args([
                "--data-dir",
                dir.path().to_str().unwrap(),
                "--api-listen",
                "127.0.0.1:0",
            ])
            .args(*flags)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{flags:?} started");
        assert!(stderr.contains(reason), "{flags:?}: {stderr}");
    }
}

/// The first address of each of `n` UDP answers for `name`.
async fn leaders(dns: SocketAddr, name: &str, n: usize) -> std::collections::BTreeSet<IpAddr> {
    let mut client = dns_common::udp_client(dns).await;
    let mut out = std::collections::BTreeSet::new();
    for _ in 0..n {
        let m = dns_common::ask_with(&mut client, name, RecordType::A).await;
        if let Some(first) = addresses_in_order(&m).first() {
            out.insert(*first);
        }
    }
    out
}

fn addresses_in_order(m: &hickory_proto::op::Message) -> Vec<IpAddr> {
    m.answers()
        .iter()
        .filter_map(|r| match r.data() {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_answers_with_every_live_node_and_drops_a_silent_one_within_15_s() {
    let Some(url) = postgres_database().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let store = ["--store", url.as_str()];
    let (zone, token) = zone_and_token_with(dir.path(), &store);
    let start = |name: &str, pool: &str| {
        let d = tempfile::tempdir().unwrap();
        let node = Node::with(
            d.path(),
            &[
                &store[..],
                &[
                    "--node-name",
                    name,
                    "--edge-ipv4-pool",
                    pool,
                    "--dns-listen",
                    "127.0.0.1:0",
                ],
            ]
            .concat(),
        );
        (node, d)
    };
    let (mut n1, _d1) = start("dns-n1", "127.62.5.0/24");
    let (mut n2, _d2) = start("dns-n2", "127.62.6.0/24");
    let (dns1, dns2) = (n1.dns_addr(), n2.dns_addr());
    api(
        &n1,
        &token,
        reqwest::Method::POST,
        &format!("/zones/{zone}/spectrum/apps"),
        Some(app(
            "ssh.example.com",
            2206,
            json!({"type": "dynamic", "connectivity": "ipv4"}),
        )),
    )
    .await;
    // A peer's listeners arrive with its next heartbeat (every 3 s).
    let both = ["127.62.5.1", "127.62.6.1"];
    answers_within(dns1, "ssh.example.com.", &both, Duration::from_secs(5)).await;
    answers_within(dns2, "ssh.example.com.", &both, Duration::from_secs(5)).await;
    assert_eq!(
        leaders(dns1, "ssh.example.com.", 4).await.len(),
        2,
        "the order rotates"
    );
    // n2 dies without a word: n1 stops answering with it within 15 s.
    n2.signal("-9");
    let took = answers_within(
        dns1,
        "ssh.example.com.",
        &["127.62.5.1"],
        Duration::from_secs(15),
    )
    .await;
    eprintln!("a silent node left the answers after {took:?}");
    drop(n2);
    drop(n1);
}
