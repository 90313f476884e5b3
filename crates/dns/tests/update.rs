//! RFC 2136 updates against a real BIND 9 with a TSIG key: records follow the publication,
//! others' records stay, a bad key and an unreachable server are reported, and a restart
//! reconciles from the ownership file.

mod common;

use common::bind::{free_port, new_key, Bind};
use common::lookup;
use dns::update::{key, run, Target};
use model::{DnsUpdateState, Publication, ZonePublication};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, watch};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn publication(hosts: &[(&str, &[&str])]) -> Arc<Publication> {
    let mut zone = ZonePublication {
        name: "example.com".into(),
        hosts: BTreeMap::new(),
    };
    for (name, ips) in hosts {
        zone.hosts
            .insert(name.to_string(), ips.iter().map(|s| ip(s)).collect());
    }
    let mut p = Publication {
        ttl: 30,
        ..Publication::default()
    };
    p.zones.insert("z".repeat(32), zone);
    Arc::new(p)
}

struct Updater {
    publication: watch::Sender<Arc<Publication>>,
    state: watch::Receiver<DnsUpdateState>,
    _stop: oneshot::Sender<()>,
}

fn start(
    bind_addr: std::net::SocketAddr,
    key_file: &Path,
    owned: &Path,
    first: Arc<Publication>,
) -> Updater {
    let key = key::parse(&std::fs::read_to_string(key_file).unwrap()).unwrap();
    let target = Target {
        server: bind_addr,
        key: Some(key),
        owned_file: owned.to_owned(),
    };
    let (publication, rx) = watch::channel(first);
    let (state_tx, state) = watch::channel(DnsUpdateState::default());
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(run(target, rx, state_tx, async {
        let _ = stopped.await;
    }));
    Updater {
        publication,
        state,
        _stop: stop,
    }
}

/// The first error the updater reports, within 5 s.
async fn first_error(u: &mut Updater) -> String {
    let wait = async {
        loop {
            if let Some(e) = u.state.borrow_and_update().error.clone() {
                return e;
            }
            u.state.changed().await.unwrap();
        }
    };
    tokio::time::timeout(Duration::from_secs(5), wait)
        .await
        .expect("no error reported")
}

/// Waits up to `within` for `name` to have `want` at BIND.
async fn eventually(bind: &Bind, name: &str, want: &[&str], within: Duration) {
    let want: Vec<IpAddr> = want.iter().map(|s| ip(s)).collect();
    let started = Instant::now();
    loop {
        let got = lookup(bind.addr, name).await;
        if got == want {
            return;
        }
        assert!(
            started.elapsed() < within,
            "{name}: {got:?}, not {want:?}\n{}",
            bind.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn records_follow_creates_updates_and_deletes_and_others_stay() {
    let Some(bind) = Bind::start(
        "example.com",
        &["other 300 IN A 192.0.2.1", "ssh 300 IN A 192.0.2.99"],
        0,
    ) else {
        return;
    };
    let owned = bind.dir.path().join("owned.json");
    let u = start(bind.addr, &bind.key_file, &owned, publication(&[]));
    let second = Duration::from_secs(2);
    u.publication
        .send_replace(publication(&[("ssh.example.com", &["127.0.1.1", "::1"])]));
    eventually(
        &bind,
        "ssh.example.com.",
        &["127.0.1.1", "192.0.2.99", "::1"],
        second,
    )
    .await;
    u.publication.send_replace(publication(&[
        ("ssh.example.com", &["127.0.1.2"]),
        ("db.example.com", &["127.0.1.3"]),
    ]));
    eventually(
        &bind,
        "ssh.example.com.",
        &["127.0.1.2", "192.0.2.99"],
        second,
    )
    .await;
    eventually(&bind, "db.example.com.", &["127.0.1.3"], second).await;
    u.publication.send_replace(publication(&[]));
    eventually(&bind, "ssh.example.com.", &["192.0.2.99"], second).await;
    eventually(&bind, "db.example.com.", &[], second).await;
    eventually(&bind, "other.example.com.", &["192.0.2.1"], second).await;
    assert!(
        bind.log().contains("updating zone 'example.com/IN'"),
        "{}",
        bind.log()
    );
    assert_eq!(u.state.borrow().error, None);
    let file: serde_json::Value = serde_json::from_slice(&std::fs::read(&owned).unwrap()).unwrap();
    assert_eq!(
        file["zones"],
        serde_json::json!({}),
        "nothing owned any more"
    );
}

#[tokio::test]
async fn a_restart_reconciles_from_what_it_owned() {
    let Some(bind) = Bind::start("example.com", &[], 0) else {
        return;
    };
    let owned = bind.dir.path().join("owned.json");
    let first = start(
        bind.addr,
        &bind.key_file,
        &owned,
        publication(&[("a.example.com", &["127.0.1.1"])]),
    );
    eventually(
        &bind,
        "a.example.com.",
        &["127.0.1.1"],
        Duration::from_secs(2),
    )
    .await;
    drop(first);
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Down while a.example.com was deleted and b.example.com created.
    let _second = start(
        bind.addr,
        &bind.key_file,
        &owned,
        publication(&[("b.example.com", &["127.0.1.2"])]),
    );
    eventually(
        &bind,
        "b.example.com.",
        &["127.0.1.2"],
        Duration::from_secs(2),
    )
    .await;
    eventually(&bind, "a.example.com.", &[], Duration::from_secs(2)).await;
}

#[tokio::test]
async fn a_bad_key_is_reported_as_such() {
    let Some(bind) = Bind::start("example.com", &[], 0) else {
        return;
    };
    let wrong = bind.wrong_key_file();
    let owned = bind.dir.path().join("owned.json");
    let mut u = start(
        bind.addr,
        &wrong,
        &owned,
        publication(&[("a.example.com", &["127.0.1.1"])]),
    );
    let error = first_error(&mut u).await;
    assert!(
        error.contains("refused the TSIG key \"spectra-test\""),
        "{error}"
    );
    assert_eq!(
        lookup(bind.addr, "a.example.com.").await,
        Vec::<IpAddr>::new()
    );
}

#[tokio::test]
async fn an_unreachable_server_is_retried_until_it_answers() {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let owned = dir.path().join("owned.json");
    let key_file = dir.path().join("k.key");
    let key = new_key();
    std::fs::write(&key_file, &key).unwrap();
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut u = start(
        addr,
        &key_file,
        &owned,
        publication(&[("a.example.com", &["127.0.1.1"])]),
    );
    let error = first_error(&mut u).await;
    assert!(error.contains("cannot reach the DNS server"), "{error}");
    // BIND comes up on that port: the same updater, retrying with backoff, gets through.
    let Some(bind) = Bind::start_with_key("example.com", &[], port, &key) else {
        return;
    };
    eventually(
        &bind,
        "a.example.com.",
        &["127.0.1.1"],
        Duration::from_secs(8),
    )
    .await;
    assert_eq!(
        u.state.borrow().error,
        None,
        "the error clears once an update succeeds"
    );
}
