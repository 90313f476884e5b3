//! A node on the PostgreSQL store (`--store`): the admin commands and `serve` share it, apps
//! carry traffic, changes made by the CLI reach the edge, and a node restarted on a fresh data
//! dir serves what the database holds.

mod common;

use common::*;
use serde_json::json;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_on_postgres_serves_what_the_database_holds() {
    let Some(url) = postgres_database().await else {
        return;
    };
    let admin_dir = tempfile::tempdir().unwrap();
    let store = ["--store", url.as_str()];
    let (zone, token) = zone_and_token_with(admin_dir.path(), &store);
    assert!(
        !admin_dir.path().join("spectra.db").exists(),
        "the CLI wrote to PostgreSQL, not to SQLite"
    );
    let origin = tagged("127.0.0.1:0", b"P").await;
    let node_dir = tempfile::tempdir().unwrap();
    let pool = ["--edge-ipv4-pool", "127.89.0.0/24"];
    let node = Node::with(node_dir.path(), &[&store[..], &pool].concat());
    create_app(
        &node,
        &zone,
        &token,
        json!({"protocol": "tcp/7300",
        "dns": {"type": "CNAME", "name": "pg.example.com"},
        "origin_direct": [format!("tcp://{origin}")],
        "edge_ips": {"type": "dynamic", "connectivity": "ipv4"}}),
    )
    .await;
    let edge: SocketAddr = "127.89.0.1:7300".parse().unwrap();
    assert_eq!(tag_at(edge).await, Some(b'P'));
    assert!(
        !node_dir.path().join("spectra.db").exists(),
        "no SQLite store beside PostgreSQL"
    );

    // Another node, on a data dir of its own, serves the same app from the database.
    drop(node);
    let fresh = tempfile::tempdir().unwrap();
    let node = Node::with(fresh.path(), &[&store[..], &pool].concat());
    assert_eq!(tag_at(edge).await, Some(b'P'), "served after a restart");

    // A change made by the CLI on the database reaches the running node.
    cli(
        admin_dir.path(),
        &[&["zone", "delete", "example.com"][..], &store].concat(),
    );
    let deadline = Instant::now() + Duration::from_secs(2);
    while TcpStream::connect(edge).await.is_ok() {
        assert!(
            Instant::now() < deadline,
            "the zone's deletion did not reach the edge"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut node = node;
    node.signal("-TERM");
    let status = tokio::task::spawn_blocking(move || node.child.wait().unwrap());
    assert!(
        status.await.unwrap().success(),
        "SIGTERM: exit 0 with the PostgreSQL store too"
    );
}

#[test]
fn a_store_that_is_not_a_postgres_url_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, _, err) = cli_result(dir.path(), &["zone", "list", "--store", "mysql://x"]);
    assert!(!ok);
    assert!(err.contains("PostgreSQL URL"), "{err}");
}

/// A cluster of the test's own (so it can stop it), stopped and removed when dropped.
struct Cluster {
    url: String,
    dir: String,
}

fn pg_cluster(args: &[&str]) -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/pg-cluster");
    let out = std::process::Command::new(script)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pg-cluster {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

impl Cluster {
    /// `None` where the PostgreSQL tests do not run (outside CI without a test cluster).
    fn start() -> Option<Cluster> {
        if std::env::var_os("SPECTRA_TEST_POSTGRES").is_none() {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI runs the PostgreSQL tests"
            );
            return None;
        }
        let out = pg_cluster(&["start"]);
        let (url, dir) = out.trim().split_once(' ').unwrap();
        Some(Cluster {
            url: url.to_owned(),
            dir: dir.to_owned(),
        })
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        pg_cluster(&["stop", &self.dir]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_stops_configuration_changes_never_traffic() {
    let Some(cluster) = tokio::task::spawn_blocking(Cluster::start).await.unwrap() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let store = ["--store", cluster.url.as_str()];
    let (zone, token) = zone_and_token_with(dir.path(), &store);
    let origin = tagged("127.0.0.1:0", b"O").await;
    let app = |port: u16| {
        json!({"protocol": format!("tcp/{port}"),
        "dns": {"type": "CNAME", "name": "o.example.com"},
        "origin_direct": [format!("tcp://{origin}")],
        "edge_ips": {"type": "dynamic", "connectivity": "ipv4"}})
    };
    let node_args = [&store[..], &["--edge-ipv4-pool", "127.90.0.0/24"]].concat();
    let mut node = Node::with(dir.path(), &node_args);
    create_app(&node, &zone, &token, app(7301)).await;
    let first: SocketAddr = "127.90.0.1:7301".parse().unwrap();
    assert_eq!(tag_at(first).await, Some(b'O'));
    // The node saves what it serves in its data dir.
    let saved = dir.path().join("last-config.json");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !std::fs::read_to_string(&saved).is_ok_and(|t| t.contains("7301")) {
        assert!(
            Instant::now() < deadline,
            "the configuration was not saved locally"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let halted = cluster.dir.clone();
    tokio::task::spawn_blocking(move || pg_cluster(&["halt", &halted]))
        .await
        .unwrap();
    // Traffic goes on; writes are refused with a 503 in the envelope, which the SDKs retry.
    for _ in 0..5 {
        assert_eq!(
            tag_at(first).await,
            Some(b'O'),
            "the edge serves through the outage"
        );
    }
    let post = |base: &str| {
        reqwest::Client::new()
            .post(format!("{base}/zones/{zone}/spectrum/apps"))
            .bearer_auth(&token)
            .timeout(Duration::from_secs(15))
    };
    let (status, body) = send(post(&node.base).json(&app(7302))).await;
    assert_eq!(status, reqwest::StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["success"], false);
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("unavailable"),
        "{body}"
    );
    // Reads are answered from the node's last configuration, and say so.
    assert_read_from_copy(&node.base, &zone, &token).await;

    // A node restarted during the outage serves the configuration it saved.
    node.signal("-TERM");
    let stopped = tokio::task::spawn_blocking(move || {
        let status = node.child.wait().unwrap();
        (node, status)
    });
    let (old, status) = stopped.await.unwrap();
    assert!(status.success());
    drop(old);
    let mut node = Node::with(dir.path(), &node_args);
    assert_eq!(
        tag_at(first).await,
        Some(b'O'),
        "served from the saved configuration"
    );
    assert_read_from_copy(&node.base, &zone, &token).await;

    // The database back: writes work again and reach the edge, without a restart.
    let resumed = cluster.dir.clone();
    tokio::task::spawn_blocking(move || pg_cluster(&["resume", &resumed]))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (status, body) = send(post(&node.base).json(&app(7302))).await;
        if status == reqwest::StatusCode::OK {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "writes did not come back: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(tag_at("127.90.0.1:7302".parse().unwrap()).await, Some(b'O'));
    assert_eq!(tag_at(first).await, Some(b'O'));
    let (_, body) = send(
        reqwest::Client::new()
            .get(format!("{}/zones/{zone}/spectrum/apps", node.base))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!(
        body["messages"],
        json!([]),
        "the store's own answer again: {body}"
    );
    node.signal("-TERM");
    let status = tokio::task::spawn_blocking(move || node.child.wait().unwrap());
    assert!(status.await.unwrap().success());
    drop(cluster);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_copy_moves_a_node_onto_postgres_with_its_tokens() {
    let Some(url) = postgres_database().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let zone = last_line(&cli(dir.path(), &["zone", "create", "example.com"]));
    let token = last_line(&cli(
        dir.path(),
        &["token", "create", "--permission", "zone-settings-write"],
    ));
    let copy = || {
        let out = std::process::Command::new(BIN)
            .args([
                "store",
                "copy",
                "--from",
                dir.path().to_str().unwrap(),
                "--to",
                &url,
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    assert!(
        copy().starts_with("copied 1 zones, 0 apps, 1 tokens"),
        "first copy"
    );
    assert!(
        copy().starts_with("copied 0 zones, 0 apps, 0 tokens"),
        "a second copy adds nothing"
    );
    // A node on PostgreSQL, on a new data dir, takes the token made on the SQLite node.
    let fresh = tempfile::tempdir().unwrap();
    let node = Node::with(fresh.path(), &["--store", &url]);
    let (status, body) = send(
        reqwest::Client::new()
            .get(format!("{}/zones/{zone}", node.base))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    assert_eq!(body["result"]["name"], "example.com");
}

/// The zone's app list through `base` is answered, from the node's copy, with a message saying so.
async fn assert_read_from_copy(base: &str, zone: &str, token: &str) {
    let (status, body) = send(
        reqwest::Client::new()
            .get(format!("{base}/zones/{zone}/spectrum/apps"))
            .bearer_auth(token)
            .timeout(Duration::from_secs(15)),
    )
    .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    assert_eq!(body["result"].as_array().unwrap().len(), 1, "{body}");
    let note = body["messages"][0]["message"].as_str().unwrap_or_default();
    assert!(note.contains("last configuration"), "{body}");
}
