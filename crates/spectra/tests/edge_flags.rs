//! The data plane's and the app policy's flags of `spectra serve` proved end to end: port and
//! address policy, edge pools, the connect timeout, the node's connection cap, the UDP flow
//! limits, and the certificates of `tls` apps.

mod common;

use common::*;
use reqwest::StatusCode;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

fn app(protocol: &str, origin: &str, edge_ips: Value) -> Value {
    let dns_type = if edge_ips["type"] == "static" {
        "ADDRESS"
    } else {
        "CNAME"
    };
    json!({"protocol": protocol, "dns": {"type": dns_type, "name": "f.example.com"},
           "origin_direct": [origin], "edge_ips": edge_ips})
}

fn dynamic_v4() -> Value {
    json!({"type": "dynamic", "connectivity": "ipv4"})
}

async fn post(node: &Node, zone: &str, token: &str, body: Value) -> (StatusCode, Value) {
    send(
        reqwest::Client::new()
            .post(format!("{}/zones/{zone}/spectrum/apps", node.base))
            .bearer_auth(token)
            .json(&body),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_ports_per_app_and_edge_static_allow_bound_what_an_app_may_claim() {
    let dir = tempfile::tempdir().unwrap();
    let (zone, token) = zone_and_token(dir.path());
    let node = Node::with(
        dir.path(),
        &[
            "--max-ports-per-app",
            "10",
            "--edge-static-allow",
            "127.95.0.0/24,::1/128",
        ],
    );
    let static_ip = |ip: &str| json!({"type": "static", "ips": [ip]});
    let eleven = app(
        "tcp/7100-7110",
        "tcp://127.0.0.1:20000-20010",
        static_ip("127.95.0.1"),
    );
    let (status, body) = post(&node, &zone, &token, eleven).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("at most 10"), "{body}");
    let elsewhere = app("tcp/7100", "tcp://127.0.0.1:20000", static_ip("127.96.0.1"));
    let (status, body) = post(&node, &zone, &token, elsewhere).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "outside --edge-static-allow: {body}"
    );
    let ten = app(
        "tcp/7100-7109",
        "tcp://127.0.0.1:20000-20009",
        static_ip("127.95.0.1"),
    );
    let (status, body) = post(&node, &zone, &token, ten).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut listening = false;
    for _ in 0..100 {
        if TcpStream::connect("127.95.0.1:7109").await.is_ok() {
            listening = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(listening, "the tenth port of the range listens");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_ipv6_pool_gives_dynamic_apps_their_ipv6_address() {
    let dir = tempfile::tempdir().unwrap();
    let (zone, token) = zone_and_token(dir.path());
    // ::2 is not on this machine: the address is assigned, and its listener says it cannot bind.
    let node = Node::with(dir.path(), &["--edge-ipv6-pool", "::2/128"]);
    let (status, body) = post(
        &node,
        &zone,
        &token,
        app(
            "tcp/7101",
            "tcp://127.0.0.1:9",
            json!({"type": "dynamic", "connectivity": "ipv6"}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let id = body["result"]["id"].as_str().unwrap();
    let (_, status) = send(
        reqwest::Client::new()
            .get(format!(
                "{}/zones/{zone}/spectrum/apps/{id}/status",
                node.base
            ))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!(status["result"]["edge_ips"], json!(["::2"]), "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_timeout_bounds_a_black_holed_origin_and_max_connections_the_node() {
    // An origin whose accept queue is full: further connects get no answer at all.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket
        .bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    socket.listen(0).unwrap();
    let hole: SocketAddr = socket.local_addr().unwrap().as_socket().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..3 {
        if let Ok(Ok(s)) =
            tokio::time::timeout(Duration::from_millis(300), TcpStream::connect(hole)).await
        {
            fillers.push(s);
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let (zone, token) = zone_and_token(dir.path());
    let node = Node::with(
        dir.path(),
        &[
            "--edge-ipv4-pool",
            "127.97.0.0/24",
            "--connect-timeout",
            "0.5",
            "--max-connections",
            "1",
        ],
    );
    post(
        &node,
        &zone,
        &token,
        app("tcp/7102", &format!("tcp://{hole}"), dynamic_v4()),
    )
    .await;
    let edge: SocketAddr = "127.97.0.1:7102".parse().unwrap();
    let mut client = None;
    for _ in 0..100 {
        if let Ok(s) = TcpStream::connect(edge).await {
            client = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut client = client.expect("the app listens");
    let after = closed_after(&mut client, Duration::from_secs(5))
        .await
        .expect("closed");
    assert!(
        after < Duration::from_secs(3),
        "the 0.5 s budget, not 10 s: {after:?}"
    );

    // --max-connections 1: with one connection waiting on the origin, a second is closed at once.
    let _waiting = TcpStream::connect(edge).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut second = TcpStream::connect(edge).await.unwrap();
    let closed = closed_after(&mut second, Duration::from_millis(300)).await;
    assert!(closed.is_some(), "the node holds one connection already");
    drop(fillers);
    drop(socket);
}

/// A UDP origin answering each datagram with `tag` and the datagram.
async fn udp_origin(tag: &'static [u8]) -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 1500];
        while let Ok((n, peer)) = socket.recv_from(&mut buf).await {
            let reply = [tag, &buf[..n]].concat();
            let _ = socket.send_to(&reply, peer).await;
        }
    });
    addr
}

/// Sends `data` from `client` to `edge`; the reply, if one comes within 300 ms.
async fn ask(client: &UdpSocket, edge: SocketAddr, data: &[u8]) -> Option<Vec<u8>> {
    client.send_to(data, edge).await.unwrap();
    let mut buf = [0u8; 1500];
    match tokio::time::timeout(Duration::from_millis(300), client.recv_from(&mut buf)).await {
        Ok(Ok((n, _))) => Some(buf[..n].to_vec()),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_max_flows_and_udp_idle_timeout_bound_flows() {
    let dir = tempfile::tempdir().unwrap();
    let (zone, token) = zone_and_token(dir.path());
    let node = Node::with(
        dir.path(),
        &[
            "--edge-ipv4-pool",
            "127.98.0.0/24",
            "--udp-max-flows",
            "1",
            "--udp-idle-timeout",
            "0.6",
        ],
    );
    let origin = udp_origin(b"U").await;
    let (status, body) = post(
        &node,
        &zone,
        &token,
        app("udp/7103", &format!("udp://{origin}"), dynamic_v4()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let edge: SocketAddr = "127.98.0.1:7103".parse().unwrap();
    let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut first = None;
    for _ in 0..20 {
        first = ask(&a, edge, b"a").await;
        if first.is_some() {
            break;
        }
    }
    assert_eq!(first.as_deref(), Some(&b"Ua"[..]));
    assert_eq!(
        ask(&b, edge, b"b").await,
        None,
        "one flow is the node's limit"
    );
    // A's flow ends after 0.6 s without a datagram; then B gets the slot.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let started = Instant::now();
    let mut got = None;
    while got.is_none() && started.elapsed() < Duration::from_secs(2) {
        got = ask(&b, edge, b"b").await;
    }
    assert_eq!(
        got.as_deref(),
        Some(&b"Ub"[..]),
        "the idle flow ended and freed the slot"
    );
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A CA's key and certificate, and a leaf for `name` it signed, as PEM files in `dir`.
fn ca_and_leaf(
    dir: &Path,
    name: &str,
) -> (
    CertificateDer<'static>,
    Vec<CertificateDer<'static>>,
    PrivateKeyDer<'static>,
) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(params, ca_key);
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec![name.to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &issuer)
        .unwrap();
    std::fs::write(dir.join(format!("{name}.crt")), leaf.pem() + &ca.pem()).unwrap();
    std::fs::write(dir.join(format!("{name}.key")), leaf_key.serialize_pem()).unwrap();
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    let key = PrivateKeyDer::try_from(leaf_key.serialize_der()).unwrap();
    (
        ca.der().clone(),
        vec![leaf.der().clone(), ca.der().clone()],
        key,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_cert_dir_serves_the_operator_s_certificate_and_origin_ca_is_trusted_for_strict() {
    const HOST: &str = "f.example.com";
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    let origin_ca_dir = dir.path().join("origin");
    std::fs::create_dir_all(&certs).unwrap();
    std::fs::create_dir_all(&origin_ca_dir).unwrap();
    let (edge_root, _, _) = ca_and_leaf(&certs, HOST);
    // The origin's certificate comes from a CA that only --origin-ca makes trusted.
    let (_, origin_chain, origin_key) = ca_and_leaf(&origin_ca_dir, HOST);
    let server = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(origin_chain, origin_key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(mut tls) = acceptor.accept(tcp).await {
                    let _ = tls.write_all(b"S").await;
                    let _ = tls.flush().await;
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
            });
        }
    });
    let (zone, token) = zone_and_token(&dir.path().join("data"));
    let node = Node::with(
        &dir.path().join("data"),
        &[
            "--edge-ipv4-pool",
            "127.99.0.0/24",
            "--tls-cert-dir",
            certs.to_str().unwrap(),
            "--origin-ca",
            origin_ca_dir.join("ca.pem").to_str().unwrap(),
        ],
    );
    let mut body = app("tcp/7104", &format!("tcp://{origin}"), dynamic_v4());
    body["tls"] = json!("strict");
    let (status, created) = post(&node, &zone, &token, body).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let mut roots = rustls::RootCertStore::empty();
    roots.add(edge_root).unwrap();
    let client = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
    let edge: SocketAddr = "127.99.0.1:7104".parse().unwrap();
    let mut tag = None;
    for _ in 0..50 {
        if let Ok(tcp) = TcpStream::connect(edge).await {
            // Trusting only the operator's CA: the node CA's certificate would fail here.
            let mut tls = connector
                .connect(ServerName::try_from(HOST).unwrap(), tcp)
                .await
                .expect("the operator's certificate");
            let mut byte = [0u8; 1];
            if let Ok(Ok(1)) =
                tokio::time::timeout(Duration::from_secs(2), tls.read(&mut byte)).await
            {
                tag = Some(byte[0]);
            }
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        tag,
        Some(b'S'),
        "strict reached the origin through --origin-ca"
    );
}
