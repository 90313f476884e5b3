//! `--dns-update` through `spectra serve`, against a real BIND 9 with a TSIG key: records
//! follow the apps, others' records stay, `--dns-ttl` reaches the updates, and a refused key
//! shows in the app's status.

mod common;
mod dns_support;

use common::*;
use dns_support::dns_common::bind::Bind;
use dns_support::dns_common::{ask, lookup};
use dns_support::{answers_within, app, Zone};
use hickory_proto::rr::RecordType;
use serde_json::json;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// A node that sends RFC 2136 updates to `bind`, signed with `key_file`, with `extra` flags.
fn node_updating(
    dir: &std::path::Path,
    bind: &Bind,
    key_file: &std::path::Path,
    extra: &[&str],
) -> Node {
    let server = bind.addr.to_string();
    let key = key_file.to_str().unwrap();
    let flags = [
        &["--dns-update", &server, "--dns-update-key", key][..],
        extra,
    ]
    .concat();
    Node::with(dir, &flags)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_update_keeps_a_bind_server_in_step() {
    let Some(bind) = Bind::start("example.com", &["other 300 IN A 192.0.2.1"], 0) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (zone, token) = zone_and_token(dir.path());
    let extra = ["--edge-ipv4-pool", "127.62.3.0/24", "--dns-ttl", "45"];
    let node = node_updating(dir.path(), &bind, &bind.key_file, &extra);
    let z = Zone {
        node: &node,
        token: &token,
        id: &zone,
    };
    let v4 = json!({"type": "dynamic", "connectivity": "ipv4"});
    let id = z.create(app("ssh.example.com", 2204, v4)).await;
    let (seconds, name) = (Duration::from_secs(3), "ssh.example.com.");
    answers_within(bind.addr, name, &["127.62.3.1"], seconds).await;
    let a = ask(bind.addr, name, RecordType::A).await;
    assert_eq!(a.answers()[0].ttl(), 45, "--dns-ttl reaches the updates");
    let update = json!({"server": bind.addr.to_string(), "error": null});
    assert_eq!(z.status(&id).await["dns"]["update"], update);
    z.delete(&id).await;
    answers_within(bind.addr, name, &[], seconds).await;
    answers_within(bind.addr, "other.example.com.", &["192.0.2.1"], seconds).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_update_key_shows_in_the_status() {
    let Some(bind) = Bind::start("example.com", &[], 0) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (zone, token) = zone_and_token(dir.path());
    let wrong = bind.wrong_key_file();
    let node = node_updating(
        dir.path(),
        &bind,
        &wrong,
        &["--edge-ipv4-pool", "127.62.4.0/24"],
    );
    let z = Zone {
        node: &node,
        token: &token,
        id: &zone,
    };
    let v4 = json!({"type": "dynamic", "connectivity": "ipv4"});
    let id = z.create(app("ssh.example.com", 2205, v4)).await;
    let started = Instant::now();
    loop {
        let status = z.status(&id).await;
        if let Some(error) = status["dns"]["update"]["error"].as_str() {
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
