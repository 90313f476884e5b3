//! Live changes on the TCP data plane: retunes, other apps, delete with drain, shutdown, the
//! node's connection limit, and a port held by another program.

mod common;

use common::*;
use proxy::Options;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

#[tokio::test]
async fn a_retune_keeps_open_connections_on_their_old_origin() {
    let old = tagged_echo("127.0.0.1:0", "O").await;
    let new = tagged_echo("127.0.0.1:0", "N").await;
    let edge = Edge::start(options());
    let before = tcp_app('a', 6007, &[old], &["127.71.8.1"]);
    edge.publish(&[&before]).await;
    let (tag, mut long_lived) = connect_tagged(sa("127.71.8.1:6007"), 1).await;
    assert_eq!(tag, "O");
    let after = tcp_app('a', 6007, &[new], &["127.71.8.1"]);
    edge.publish(&[&after]).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (tag, _) = connect_tagged(sa("127.71.8.1:6007"), 1).await;
    assert_eq!(tag, "N");
    echo_round(&mut long_lived, b"still here").await;

    // A port change binds the new port, releases the old, and keeps the open connection.
    let moved = tcp_app('a', 6008, &[new], &["127.71.8.1"]);
    edge.publish(&[&moved]).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        TcpStream::connect("127.71.8.1:6007").await.is_err(),
        "old port released"
    );
    let (tag, _) = connect_tagged(sa("127.71.8.1:6008"), 1).await;
    assert_eq!(tag, "N");
    echo_round(&mut long_lived, b"and still here").await;
    edge.stop().await;
}

#[tokio::test]
async fn a_change_to_one_app_leaves_another_untouched() {
    let origin = tagged_echo("127.0.0.1:0", "X").await;
    let edge = Edge::start(options());
    let a = tcp_app('a', 6009, &[origin], &["127.71.9.1"]);
    let b = tcp_app('b', 6010, &[origin], &["127.71.9.1"]);
    edge.publish(&[&a, &b]).await;
    let (_, mut on_b) = connect_tagged(sa("127.71.9.1:6010"), 1).await;
    edge.publish(&[&b]).await; // a deleted
    assert!(
        proxy_status(&edge.status, &a.id).is_empty(),
        "a's deletion reached the data plane"
    );
    let a2 = tcp_app('a', 6011, &[origin], &["127.71.9.1"]);
    edge.publish(&[&a2, &b]).await;
    echo_round(&mut on_b, b"b is fine").await;
    edge.stop().await;
}

#[tokio::test]
async fn delete_stops_accepting_at_once_and_drains_then_closes() {
    let origin = tagged_echo("127.0.0.1:0", "D").await;
    let edge = Edge::start(Options {
        drain_timeout: Duration::from_millis(700),
        ..options()
    });
    let a = tcp_app('a', 6012, &[origin], &["127.71.10.1"]);
    edge.publish(&[&a]).await;
    let (_, mut open) = connect_tagged(sa("127.71.10.1:6012"), 1).await;
    edge.publish(&[]).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        TcpStream::connect("127.71.10.1:6012").await.is_err(),
        "no longer accepting"
    );
    assert!(proxy_status(&edge.status, &a.id).is_empty());
    echo_round(&mut open, b"draining but alive").await;
    let started = Instant::now();
    assert!(
        closed_within(&mut open, Duration::from_secs(3)).await,
        "closed after the drain timeout"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
    edge.stop().await;
}

#[tokio::test]
async fn shutdown_waits_for_open_connections_to_finish() {
    let origin = tagged_echo("127.0.0.1:0", "S").await;
    let edge = Edge::start(options());
    let a = tcp_app('a', 6013, &[origin], &["127.71.11.1"]);
    edge.publish(&[&a]).await;
    let (_, mut open) = connect_tagged(sa("127.71.11.1:6013"), 1).await;
    edge.shutdown.cancel();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!edge.task.as_ref().unwrap().is_finished(), "still draining");
    echo_round(&mut open, b"last words").await;
    drop(open);
    tokio::time::timeout(Duration::from_secs(3), edge.stop())
        .await
        .expect("stops once drained");
}

#[tokio::test]
async fn the_node_connection_limit_closes_new_connections() {
    let origin = tagged_echo("127.0.0.1:0", "L").await;
    let edge = Edge::start(Options {
        max_connections: 2,
        ..options()
    });
    let a = tcp_app('a', 6014, &[origin], &["127.71.12.1"]);
    edge.publish(&[&a]).await;
    let (_, _one) = connect_tagged(sa("127.71.12.1:6014"), 1).await;
    let (_, two) = connect_tagged(sa("127.71.12.1:6014"), 1).await;
    let mut three = TcpStream::connect("127.71.12.1:6014").await.unwrap();
    assert!(closed_within(&mut three, Duration::from_secs(2)).await);
    drop(two);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (tag, _) = connect_tagged(sa("127.71.12.1:6014"), 1).await;
    assert_eq!(tag, "L", "a slot freed up");
    edge.stop().await;
}

#[tokio::test]
async fn a_port_held_by_another_program_shows_as_a_listener_error() {
    let holder = std::net::TcpListener::bind("127.71.13.1:6015").unwrap();
    let origin = tagged_echo("127.0.0.1:0", "E").await;
    let edge = Edge::start(options());
    let a = tcp_app('a', 6015, &[origin], &["127.71.13.1", "127.71.13.2"]);
    edge.publish(&[&a]).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let listeners = proxy_status(&edge.status, &a.id);
    let held = listeners
        .iter()
        .find(|l| l.address == sa("127.71.13.1:6015"))
        .unwrap();
    assert!(
        held.error.as_deref().unwrap().contains("in use"),
        "{held:?}"
    );
    let free = listeners
        .iter()
        .find(|l| l.address == sa("127.71.13.2:6015"))
        .unwrap();
    assert!(free.error.is_none());
    // Once the port is released, the listener binds it by itself.
    drop(holder);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (tag, _) = connect_tagged(sa("127.71.13.1:6015"), 1).await;
    assert_eq!(tag, "E");
    edge.stop().await;
}
