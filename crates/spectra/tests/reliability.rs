//! The node under the attacks it was hardened against, at a small scale: with file descriptors
//! nearly exhausted by API clients the apps still accept, and with the apps full the API still
//! answers (the caps are fitted to the descriptor limit).

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::json;
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// File descriptors the node may open in all.
const FD_LIMIT: u64 = 600;

/// The status of an API request listing the zones.
async fn zones_status(node: &Node, token: &str) -> StatusCode {
    let request = reqwest::Client::new()
        .get(format!("{}/zones", node.base))
        .bearer_auth(token)
        .timeout(Duration::from_secs(5));
    send(request).await.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn descriptors_are_shared_so_neither_the_api_nor_the_apps_can_lock_the_other_out() {
    let dir = tempfile::tempdir().unwrap();
    let (zone, token) = zone_and_token(dir.path());
    let mut command = Command::new(BIN);
    command.args([
        "serve",
        "--api-listen",
        "127.0.0.1:0",
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--resolver",
        "127.0.0.1:9",
        "--edge-ipv4-pool",
        "127.88.0.0/24",
        "--api-max-connections",
        "100",
        "--api-header-timeout",
        "30",
        // Every test client comes from 127.0.0.1: the share of one client is the whole node.
        "--max-connections-per-client",
        "100000",
    ]);
    // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        command.pre_exec(|| rlimit::setrlimit(rlimit::Resource::NOFILE, FD_LIMIT, FD_LIMIT));
    }
    let node = Node::spawn(command);
    let origin = tagged("127.0.0.1:0", b"R").await;
    create_app(&node, &zone, &token, json!({"protocol": "tcp/7200",
        "dns": {"type": "CNAME", "name": "r.example.com"}, "origin_direct": [format!("tcp://{origin}")],
        "edge_ips": {"type": "dynamic", "connectivity": "ipv4"}})).await;
    let edge: SocketAddr = "127.88.0.1:7200".parse().unwrap();
    assert_eq!(tag_at(edge).await, Some(b'R'));
    let api = node
        .base
        .split("://")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_owned();

    // 700 idle API connections: more than the node's whole descriptor limit.
    let mut idle = Vec::new();
    for _ in 0..700 {
        if let Ok(s) = TcpStream::connect(&api).await {
            idle.push(s);
        }
    }
    // The apps still accept and carry traffic, and a real API request is answered.
    let mut through = Vec::new();
    for _ in 0..20 {
        let mut s = TcpStream::connect(edge).await.unwrap();
        let mut tag = [0u8; 1];
        tokio::time::timeout(Duration::from_secs(3), s.read_exact(&mut tag))
            .await
            .expect("the app answers while the API is flooded")
            .unwrap();
        through.push(s);
    }
    let status = zones_status(&node, &token).await;
    assert_eq!(status, StatusCode::OK, "the API answers a real request");
    drop(idle);
    drop(through);

    // The reverse: the apps full (their cap fitted to the limit), the API still answers.
    let mut flood = Vec::new();
    for _ in 0..400 {
        if let Ok(s) = TcpStream::connect(edge).await {
            flood.push(s);
        }
    }
    let status = zones_status(&node, &token).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the API answers while the apps are full"
    );
    let (mut answered, mut hung) = (0, 0);
    for s in &mut flood {
        let mut tag = [0u8; 1];
        match tokio::time::timeout(Duration::from_secs(1), s.read(&mut tag)).await {
            Ok(Ok(1)) => answered += 1,
            Ok(_) => {} // closed at once: over the cap
            Err(_) => hung += 1,
        }
    }
    // Without the fitting, connections beyond the descriptors wait unaccepted in the backlog.
    assert_eq!(hung, 0, "every connection is answered or closed at once");
    // 600 descriptors less 100 for the API and 256 spare leave 244: two per connection and one
    // per UDP flow, scaled from 65536 each, is 81 connections.
    assert!(
        (70..=90).contains(&answered),
        "the data plane's cap was lowered to fit the limit: {answered} answered"
    );
}
