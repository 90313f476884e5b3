//! DNS through `spectra serve`: the embedded server answers each app hostname with its live
//! edge addresses and follows API changes within a second; `--dns-update` keeps a real BIND 9
//! in step; the status extension, `dns_records` and `spectra dns records` show what is published.

mod common;

#[path = "../../dns/tests/common/mod.rs"]
mod dns_common;

use common::*;
use dns_common::bind::Bind;
use dns_common::{addresses, ask, lookup};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{RData, RecordType};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

async fn api(
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
async fn answers_within(dns: SocketAddr, name: &str, want: &[&str], within: Duration) -> Duration {
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

fn app(name: &str, port: u16, edge_ips: Value) -> Value {
    let kind = if edge_ips["type"] == "static" {
        "ADDRESS"
    } else {
        "CNAME"
    };
    json!({"protocol": format!("tcp/{port}"), "dns": {"type": kind, "name": name},
           "origin_direct": ["tcp://127.0.0.1:9"], "edge_ips": edge_ips})
}

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_update_keeps_a_bind_server_in_step() {
    let Some(bind) = Bind::start("example.com", &["other 300 IN A 192.0.2.1"], 0) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (zone, token) = zone_and_token(dir.path());
    let server = bind.addr.to_string();
    let node = Node::with(
        dir.path(),
        &[
            "--edge-ipv4-pool",
            "127.62.3.0/24",
            "--dns-ttl",
            "45",
            "--dns-update",
            &server,
            "--dns-update-key",
            bind.key_file.to_str().unwrap(),
        ],
    );
    let apps = format!("/zones/{zone}/spectrum/apps");
    let created = api(
        &node,
        &token,
        reqwest::Method::POST,
        &apps,
        Some(app(
            "ssh.example.com",
            2204,
            json!({"type": "dynamic", "connectivity": "ipv4"}),
        )),
    )
    .await;
    let id = created["result"]["id"].as_str().unwrap();
    answers_within(
        bind.addr,
        "ssh.example.com.",
        &["127.62.3.1"],
        Duration::from_secs(3),
    )
    .await;
    let a = ask(bind.addr, "ssh.example.com.", RecordType::A).await;
    assert_eq!(a.answers()[0].ttl(), 45, "--dns-ttl reaches the updates");
    let status = api(
        &node,
        &token,
        reqwest::Method::GET,
        &format!("{apps}/{id}/status"),
        None,
    )
    .await;
    assert_eq!(
        status["result"]["dns"]["update"],
        json!({"server": server, "error": null})
    );
    api(
        &node,
        &token,
        reqwest::Method::DELETE,
        &format!("{apps}/{id}"),
        None,
    )
    .await;
    answers_within(bind.addr, "ssh.example.com.", &[], Duration::from_secs(3)).await;
    answers_within(
        bind.addr,
        "other.example.com.",
        &["192.0.2.1"],
        Duration::from_secs(1),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_update_key_shows_in_the_status() {
    let Some(bind) = Bind::start("example.com", &[], 0) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (zone, token) = zone_and_token(dir.path());
    let wrong = bind.wrong_key_file();
    let node = Node::with(
        dir.path(),
        &[
            "--edge-ipv4-pool",
            "127.62.4.0/24",
            "--dns-update",
            &bind.addr.to_string(),
            "--dns-update-key",
            wrong.to_str().unwrap(),
        ],
    );
    let apps = format!("/zones/{zone}/spectrum/apps");
    let created = api(
        &node,
        &token,
        reqwest::Method::POST,
        &apps,
        Some(app(
            "ssh.example.com",
            2205,
            json!({"type": "dynamic", "connectivity": "ipv4"}),
        )),
    )
    .await;
    let id = created["result"]["id"].as_str().unwrap();
    let started = Instant::now();
    loop {
        let status = api(
            &node,
            &token,
            reqwest::Method::GET,
            &format!("{apps}/{id}/status"),
            None,
        )
        .await;
        if let Some(error) = status["result"]["dns"]["update"]["error"].as_str() {
            assert!(
                error.contains("refused the TSIG key \"spectra-test\""),
                "{error}"
            );
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "no error reported: {status}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        lookup(bind.addr, "ssh.example.com.").await,
        Vec::<IpAddr>::new()
    );
}
