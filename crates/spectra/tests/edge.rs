//! The whole node: apps created through the API carry traffic within a second, come back after
//! a restart, report their listeners, follow changes made by the CLI, and SIGTERM drains.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Connects to `addr` until it answers with a tag (or `within` runs out); returns the stream.
async fn reach(addr: SocketAddr, within: Duration) -> Option<(Vec<u8>, TcpStream)> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Ok(mut s) = TcpStream::connect(addr).await {
            let mut tag = [0u8; 1];
            if let Ok(Ok(1)) =
                tokio::time::timeout(Duration::from_millis(500), s.read(&mut tag)).await
            {
                return Some((tag.to_vec(), s));
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    None
}

struct Setup {
    zone: String,
    token: String,
    http: reqwest::Client,
}

fn setup(dir: &Path) -> Setup {
    Setup {
        zone: last_line(&cli(dir, &["zone", "create", "example.com"])),
        token: last_line(&cli(
            dir,
            &["token", "create", "--permission", "zone-settings-write"],
        )),
        http: reqwest::Client::new(),
    }
}

impl Setup {
    async fn call(
        &self,
        node: &Node,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .http
            .request(
                method,
                format!("{}/zones/{}/spectrum/apps{path}", node.base, self.zone),
            )
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        send(request).await
    }
}

fn tcp_app(name: &str, port: u16, origin: SocketAddr) -> Value {
    json!({"protocol": format!("tcp/{port}"), "dns": {"type": "CNAME", "name": name},
           "origin_direct": [format!("tcp://{origin}")], "edge_ips": {"type": "dynamic", "connectivity": "ipv4"}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_carries_traffic_within_a_second_and_again_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let s = setup(dir.path());
    let o = tagged("127.0.0.1:0", b"A").await;
    let pool = ["--edge-ipv4-pool", "127.81.0.0/24"];
    // The single-threaded runtime first, then after the restart the multi-threaded one.
    let mut node = Node::with(dir.path(), &[&pool[..], &["--workers", "1"]].concat());
    let (status, body) = s
        .call(
            &node,
            reqwest::Method::POST,
            "",
            Some(tcp_app("ssh.example.com", 2222, o)),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let answered = Instant::now();
    let edge: SocketAddr = "127.81.0.1:2222".parse().unwrap();
    let (tag, mut stream) = reach(edge, Duration::from_secs(1))
        .await
        .expect("live within 1 s");
    assert_eq!(tag, b"A");
    assert!(answered.elapsed() < Duration::from_secs(1));
    stream.write_all(b"ping").await.unwrap();
    let mut back = [0u8; 4];
    stream.read_exact(&mut back).await.unwrap();
    assert_eq!(&back, b"ping");
    drop(stream);

    let id = body["result"]["id"].as_str().unwrap().to_owned();
    let (_, status) = s
        .call(&node, reqwest::Method::GET, &format!("/{id}/status"), None)
        .await;
    assert_eq!(status["result"]["edge_ips"], json!(["127.81.0.1"]));
    assert_eq!(
        status["result"]["listeners"],
        json!([{"address": "127.81.0.1:2222", "transport": "tcp", "state": "bound"}])
    );
    // The node itself, from its heartbeat (which may predate the app's listener).
    assert_eq!(
        status["result"]["nodes"].as_array().unwrap().len(),
        1,
        "{status}"
    );

    node.signal("-TERM");
    assert!(node.child.wait().unwrap().success());
    let _node = Node::with(dir.path(), &pool);
    let (tag, _) = reach(edge, Duration::from_secs(2))
        .await
        .expect("restored after restart");
    assert_eq!(tag, b"A");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_moves_new_connections_and_the_cli_can_remove_apps() {
    let dir = tempfile::tempdir().unwrap();
    let s = setup(dir.path());
    let (a, b) = (
        tagged("127.0.0.1:0", b"A").await,
        tagged("127.0.0.1:0", b"B").await,
    );
    let node = Node::with(dir.path(), &["--edge-ipv4-pool", "127.82.0.0/24"]);
    let (_, created) = s
        .call(
            &node,
            reqwest::Method::POST,
            "",
            Some(tcp_app("web.example.com", 8080, a)),
        )
        .await;
    let id = created["result"]["id"].as_str().unwrap().to_owned();
    let edge: SocketAddr = "127.82.0.1:8080".parse().unwrap();
    let (_, mut old) = reach(edge, Duration::from_secs(1)).await.unwrap();
    let (status, _) = s
        .call(
            &node,
            reqwest::Method::PUT,
            &format!("/{id}"),
            Some(tcp_app("web.example.com", 8080, b)),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let (tag, _) = reach(edge, Duration::from_secs(1)).await.unwrap();
        if tag == b"B" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the update was not live within 1 s"
        );
    }
    old.write_all(b"x").await.unwrap();
    let mut back = [0u8; 1];
    old.read_exact(&mut back).await.unwrap();
    assert_eq!(&back, b"x", "the open connection kept its origin");

    cli(dir.path(), &["zone", "delete", "example.com"]);
    let deadline = Instant::now() + Duration::from_secs(2);
    while TcpStream::connect(edge).await.is_ok() {
        assert!(
            Instant::now() < deadline,
            "the CLI's change did not reach the edge"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_a_port_held_by_another_program() {
    let dir = tempfile::tempdir().unwrap();
    let s = setup(dir.path());
    let o = tagged("127.0.0.1:0", b"A").await;
    let _holder = std::net::TcpListener::bind("127.83.0.9:2200").unwrap();
    let node = Node::with(dir.path(), &[]);
    let app = json!({"protocol": "tcp/2200", "dns": {"type": "ADDRESS", "name": "static.example.com"},
                     "edge_ips": {"type": "static", "ips": ["127.83.0.9", "127.83.0.10"]},
                     "origin_direct": [format!("tcp://{o}")]});
    let (status, created) = s.call(&node, reqwest::Method::POST, "", Some(app)).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let id = created["result"]["id"].as_str().unwrap().to_owned();
    let (tag, _) = reach("127.83.0.10:2200".parse().unwrap(), Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(tag, b"A");
    let (_, status) = s
        .call(&node, reqwest::Method::GET, &format!("/{id}/status"), None)
        .await;
    let listeners = &status["result"]["listeners"];
    assert_eq!(listeners[0]["address"], "127.83.0.9:2200");
    assert_eq!(listeners[0]["state"], "error");
    assert!(
        listeners[0]["error"]
            .as_str()
            .unwrap()
            .contains("Address already in use"),
        "{status}"
    );
    assert_eq!(listeners[1]["state"], "bound");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_open_connections_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let s = setup(dir.path());
    let o = tagged("127.0.0.1:0", b"A").await;
    let mut node = Node::with(
        dir.path(),
        &["--edge-ipv4-pool", "127.84.0.0/24", "--drain-timeout", "5"],
    );
    s.call(
        &node,
        reqwest::Method::POST,
        "",
        Some(tcp_app("d.example.com", 2300, o)),
    )
    .await;
    let (_, mut open) = reach("127.84.0.1:2300".parse().unwrap(), Duration::from_secs(1))
        .await
        .unwrap();
    node.signal("-TERM");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(node.child.try_wait().unwrap().is_none(), "still draining");
    assert!(
        TcpStream::connect("127.84.0.1:2300").await.is_err(),
        "no longer accepting"
    );
    open.write_all(b"y").await.unwrap();
    let mut back = [0u8; 1];
    open.read_exact(&mut back).await.unwrap();
    drop(open);
    let started = Instant::now();
    let status = node.child.wait().unwrap();
    assert!(status.success(), "{status}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "exits once drained"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_access_rule_made_through_the_api_refuses_clients_of_ip_firewall_apps() {
    let dir = tempfile::tempdir().unwrap();
    let s = setup(dir.path());
    let o = tagged("127.0.0.1:0", b"F").await;
    let node = Node::with(dir.path(), &["--edge-ipv4-pool", "127.84.0.0/24"]);
    let mut app = tcp_app("fw.example.com", 2323, o);
    app["ip_firewall"] = json!(true);
    let (status, body) = s.call(&node, reqwest::Method::POST, "", Some(app)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let edge: SocketAddr = "127.84.0.1:2323".parse().unwrap();
    assert!(reach(edge, Duration::from_secs(1)).await.is_some());

    // The test connects from 127.0.0.1: block it.
    let rules = format!("{}/zones/{}/firewall/access_rules/rules", node.base, s.zone);
    let rule = json!({"mode": "block", "configuration": {"target": "ip", "value": "127.0.0.1"}});
    let (status, body) = send(s.http.post(&rules).bearer_auth(&s.token).json(&rule)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let blocked_at = Instant::now();
    loop {
        if reach(edge, Duration::from_millis(100)).await.is_none() {
            break;
        }
        assert!(
            blocked_at.elapsed() < Duration::from_secs(1),
            "rule live within 1 s"
        );
    }
    let id = body["result"]["id"].as_str().unwrap();
    let (status, _) = send(s.http.delete(format!("{rules}/{id}")).bearer_auth(&s.token)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        reach(edge, Duration::from_secs(1)).await.is_some(),
        "admitted again"
    );
}

/// The origin's tag over TLS from `edge`, trusting only `ca`, within a second.
async fn tag_over_tls(
    edge: &str,
    name: &str,
    ca: &rustls::pki_types::CertificateDer<'static>,
) -> Option<u8> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.clone()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let name = rustls::pki_types::ServerName::try_from(name.to_owned()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(1);
    while Instant::now() < deadline {
        if let Ok(tcp) = TcpStream::connect(edge).await {
            if let Ok(mut tls) = connector.connect(name.clone(), tcp).await {
                let mut tag = [0u8; 1];
                if tls.read_exact(&mut tag).await.is_ok() {
                    return Some(tag[0]);
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_app_serves_a_certificate_from_the_node_ca_kept_in_the_data_dir() {
    use rustls::pki_types::pem::PemObject;
    let dir = tempfile::tempdir().unwrap();
    let s = setup(dir.path());
    let o = tagged("127.0.0.1:0", b"S").await;
    let pool = ["--edge-ipv4-pool", "127.86.0.0/24"];
    let mut node = Node::with(dir.path(), &pool);
    let mut app = tcp_app("tls.example.com", 2443, o);
    app["tls"] = json!("flexible");
    let (status, body) = s.call(&node, reqwest::Method::POST, "", Some(app)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let ca = rustls::pki_types::CertificateDer::from_pem_file(dir.path().join("tls/ca.crt"))
        .expect("the node keeps its CA certificate in DATA_DIR/tls/ca.crt");
    assert_eq!(
        tag_over_tls("127.86.0.1:2443", "tls.example.com", &ca).await,
        Some(b'S')
    );

    // After a restart the same CA signs: clients keep trusting the one file.
    node.signal("-TERM");
    assert!(node.child.wait().unwrap().success());
    let _node = Node::with(dir.path(), &pool);
    assert_eq!(
        tag_over_tls("127.86.0.1:2443", "tls.example.com", &ca).await,
        Some(b'S')
    );
}
