//! A node on the PostgreSQL store (`--store`): the admin commands and `serve` share it, apps
//! carry traffic, changes made by the CLI reach the edge, and a node restarted on a fresh data
//! dir serves what the database holds.

mod common;
#[path = "../../store/tests/common/mod.rs"]
mod store_common;

use common::*;
use serde_json::json;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_on_postgres_serves_what_the_database_holds() {
    let backend = tokio::task::spawn_blocking(store_common::Backend::postgres);
    let Some(store_common::Backend::Postgres(url)) = backend.await.unwrap() else {
        return;
    };
    let admin_dir = tempfile::tempdir().unwrap();
    let store = ["--store", url.as_str()];
    let zone = last_line(&cli(
        admin_dir.path(),
        &[&["zone", "create", "example.com"][..], &store].concat(),
    ));
    let token = last_line(&cli(
        admin_dir.path(),
        &[
            &["token", "create", "--permission", "zone-settings-write"][..],
            &store,
        ]
        .concat(),
    ));
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
