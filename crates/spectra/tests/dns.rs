//! DNS through `spectra serve`: the embedded server answers each app hostname with its live
//! edge addresses and follows API changes within a second, leaves out listeners in error and
//! silent fleet nodes; the status extension, `dns_records` and `spectra dns records` show what
//! is published; bad DNS settings stop the start.

mod common;
mod dns_support;

use common::*;
use dns_support::dns_common::{self, addresses, ask};
use dns_support::{answers_within, app, ip, Zone};
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
    let z = Zone {
        node: &node,
        token: &token,
        id: &zone,
    };
    let second = Duration::from_secs(1);
    let all = json!({"type": "dynamic", "connectivity": "all"});
    let id = z.create(app("ssh.example.com", 2201, all)).await;
    let took = answers_within(dns, "ssh.example.com.", &["127.62.0.1", "::1"], second).await;
    eprintln!("a new app answered after {took:?}");
    let fixed = json!({"type": "static", "ips": ["127.62.1.5"]});
    z.create(app("static.example.com", 2202, fixed)).await;
    answers_within(dns, "static.example.com.", &["127.62.1.5"], second).await;

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
    let outside = ask(dns, "example.org.", RecordType::A).await;
    assert_eq!(outside.response_code(), ResponseCode::Refused);

    // What is published, three ways.
    let status = z.status(&id).await;
    let published = json!({"name": "ssh.example.com", "published": ["127.62.0.1", "::1"]});
    assert_eq!(status["dns"], published);
    let record = |name: &str, kind: &str, ip: &str| (name.into(), kind.into(), ip.into(), 17);
    assert_eq!(
        z.records().await,
        [
            record("ssh.example.com", "A", "127.62.0.1"),
            record("ssh.example.com", "AAAA", "::1"),
            record("static.example.com", "A", "127.62.1.5"),
        ]
    );
    let out = std::process::Command::new(BIN)
        .args(["dns", "records", "--zone", "example.com", "--token", &token])
        .args(["--api-url", &node.base])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8(out.stdout).unwrap();
    let line = |l: &str| l.starts_with("static.example.com") && l.contains("127.62.1.5");
    assert!(printed.lines().any(line), "{printed}");

    // A rename moves the records within a second; a delete removes them.
    let v4 = json!({"type": "dynamic", "connectivity": "ipv4"});
    z.update(&id, app("shell.example.com", 2201, v4)).await;
    let took = answers_within(dns, "shell.example.com.", &["127.62.0.1"], second).await;
    eprintln!("an update answered after {took:?}");
    let old = ask(dns, "ssh.example.com.", RecordType::A).await;
    assert_eq!(old.response_code(), ResponseCode::NXDomain);
    z.delete(&id).await;
    answers_within(dns, "shell.example.com.", &[], second).await;
    let gone = ask(dns, "shell.example.com.", RecordType::A).await;
    assert_eq!(gone.response_code(), ResponseCode::NXDomain);
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
    let z = Zone {
        node: &node,
        token: &token,
        id: &zone,
    };
    let ips = json!({"type": "static", "ips": ["127.62.2.1", "127.62.2.2"]});
    let id = z.create(app("held.example.com", 2203, ips)).await;
    // 127.62.2.2 binds; 127.62.2.1's port is held by another program.
    let second = Duration::from_secs(1);
    answers_within(dns, "held.example.com.", &["127.62.2.2"], second).await;
    let status = z.status(&id).await;
    assert_eq!(status["listeners"][0]["state"], "error", "{status}");
    assert_eq!(status["dns"]["published"], json!(["127.62.2.2"]));
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
    let z = Zone {
        node: &n1,
        token: &token,
        id: &zone,
    };
    let v4 = json!({"type": "dynamic", "connectivity": "ipv4"});
    z.create(app("ssh.example.com", 2206, v4)).await;
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
}
