//! `--dns-update` through `spectra serve`, against a real BIND 9 with a TSIG key: records
//! follow the apps, others' records stay, `--dns-ttl` reaches the updates, and a refused key
//! shows in the app's status.

mod common;
mod dns_support;

use common::*;
use dns_support::dns_common::bind::Bind;
use dns_support::dns_common::{ask, lookup};
use dns_support::{answers_within, api, app};
use hickory_proto::rr::RecordType;
use serde_json::json;
use std::net::IpAddr;
use std::time::{Duration, Instant};

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
