//! `tls`: `flexible`, `full` and `strict` apps terminate the client's TLS at the edge with a
//! certificate for the app's hostname (the operator's, else the node CA's), and reach the
//! origin in plain TCP or over TLS, checked or not.

mod common;

use common::*;
use proxy::{Certified, NodeCa, TlsOptions};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::client::TlsStream;
use tokio_rustls::{TlsAcceptor, TlsConnector};

const HOST: &str = "secure.example.com";

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn tls_app(id: char, port: u16, origin: SocketAddr, tls: &str) -> model::App {
    app(
        id,
        serde_json::json!({"protocol": format!("tcp/{port}"), "dns": {"name": HOST},
            "origin_direct": [format!("tcp://{origin}")], "tls": tls}),
        &["127.73.1.1"],
    )
}

/// A self-signed certificate for `name`.
fn self_signed(name: &str) -> Certified {
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec![name.to_owned()]).unwrap();
    let key = PrivateKeyDer::try_from(signing_key.serialize_der()).unwrap();
    (vec![cert.der().clone()], key)
}

/// An origin speaking TLS with `certified`: sends `tag`, then echoes.
async fn tls_origin(certified: Certified, tag: &'static [u8]) -> SocketAddr {
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certified.0, certified.1)
        .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let _ = tls.write_all(tag).await;
                let mut buf = [0u8; 1024];
                while let Ok(n) = tls.read(&mut buf).await {
                    if n == 0 || tls.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

/// A TLS client to `edge` trusting `root`, asking for `sni`.
async fn client(
    edge: SocketAddr,
    root: &CertificateDer<'static>,
    sni: &str,
) -> std::io::Result<TlsStream<TcpStream>> {
    let mut roots = RootCertStore::empty();
    roots.add(root.clone()).unwrap();
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = TcpStream::connect(edge).await?;
    TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from(sni.to_owned()).unwrap(), tcp)
        .await
}

/// The origin's one-byte tag through a TLS client, if it comes.
async fn tag_through(edge: SocketAddr, root: &CertificateDer<'static>, sni: &str) -> Option<u8> {
    let mut stream = client(edge, root, sni).await.ok()?;
    let mut tag = [0u8; 1];
    match tokio::time::timeout(Duration::from_secs(3), stream.read(&mut tag)).await {
        Ok(Ok(1)) => Some(tag[0]),
        _ => None,
    }
}

#[tokio::test]
async fn flexible_full_and_strict_terminate_at_the_edge_and_reach_the_origin() {
    let (ca, _, _) = NodeCa::generate().unwrap();
    let node_root = ca.certificate().clone();
    let (origin_ca, _, _) = NodeCa::generate().unwrap();
    let options = proxy::Options {
        tls: Arc::new(TlsOptions {
            ca: Some(ca),
            origin_roots: vec![origin_ca.certificate().clone()],
            ..TlsOptions::default()
        }),
        ..options()
    };
    let log_path = tempfile::NamedTempFile::new().unwrap().into_temp_path();
    let edge = Edge::start_with_log(options, Some(proxy::AccessLog::open(&log_path).unwrap()));
    let plain = tagged_echo("127.0.0.1:0", "P").await;
    let unchecked = tls_origin(self_signed("anything.invalid"), b"U").await;
    let checked = tls_origin(origin_ca.issue(HOST).unwrap(), b"C").await;
    let apps = [
        tls_app('a', 6201, plain, "flexible"),
        tls_app('b', 6202, unchecked, "full"),
        tls_app('c', 6203, checked, "strict"),
        tls_app('d', 6204, unchecked, "strict"),
    ];
    edge.publish(&apps.iter().collect::<Vec<_>>()).await;
    let at = |port: u16| sa(&format!("127.73.1.1:{port}"));

    // flexible: TLS from the client, plain TCP to the origin; the bytes go both ways.
    let mut stream = client(at(6201), &node_root, HOST).await.unwrap();
    let mut tag = [0u8; 1];
    stream.read_exact(&mut tag).await.unwrap();
    assert_eq!(&tag, b"P");
    stream.write_all(b"over tls").await.unwrap();
    let mut back = [0u8; 8];
    stream.read_exact(&mut back).await.unwrap();
    assert_eq!(&back, b"over tls");
    // full: any origin certificate; strict: one that chains to a trusted root and names it.
    assert_eq!(tag_through(at(6202), &node_root, HOST).await, Some(b'U'));
    assert_eq!(tag_through(at(6203), &node_root, HOST).await, Some(b'C'));
    assert_eq!(
        tag_through(at(6204), &node_root, HOST).await,
        None,
        "strict refuses a self-signed origin"
    );
    // A client asking for another name is refused; one that speaks no TLS gets nothing.
    assert_eq!(
        tag_through(at(6201), &node_root, "other.example.com").await,
        None
    );
    let mut raw = TcpStream::connect(at(6201)).await.unwrap();
    raw.write_all(b"GET / HTTP/1.0\r\n\r\n").await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(2), raw.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "closed");
    // At most a TLS alert record (content type 21), never the origin's bytes.
    assert!(answer.is_empty() || answer[0] == 21, "{answer:?}");

    tokio::time::sleep(Duration::from_millis(100)).await;
    let log = std::fs::read_to_string(&log_path).unwrap();
    let statuses: Vec<(String, u64)> = log
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .map(|e| {
            (
                e["Event"].as_str().unwrap().to_owned(),
                e["Status"].as_u64().unwrap(),
            )
        })
        .collect();
    for expected in [("originError", 520), ("tlsError", 400), ("tlsError", 443)] {
        assert!(
            statuses
                .iter()
                .any(|(e, s)| e == expected.0 && *s == expected.1),
            "{expected:?} in {statuses:?}"
        );
    }
    edge.stop().await;
}

#[tokio::test]
async fn an_operator_certificate_wins_over_the_node_ca() {
    let (ca, _, _) = NodeCa::generate().unwrap();
    let (operator_ca, _, _) = NodeCa::generate().unwrap();
    let operator_root = operator_ca.certificate().clone();
    let options = proxy::Options {
        tls: Arc::new(TlsOptions {
            certificates: [(HOST.to_owned(), Arc::new(operator_ca.issue(HOST).unwrap()))].into(),
            ca: Some(ca),
            ..TlsOptions::default()
        }),
        ..options()
    };
    let edge = Edge::start(options);
    let plain = tagged_echo("127.0.0.1:0", "P").await;
    edge.publish(&[&tls_app('e', 6205, plain, "flexible")])
        .await;
    assert_eq!(
        tag_through(sa("127.73.1.1:6205"), &operator_root, HOST).await,
        Some(b'P')
    );
    edge.stop().await;
}

#[tokio::test]
async fn a_retune_that_keeps_hostname_and_mode_keeps_the_certificate() {
    let (ca, _, _) = NodeCa::generate().unwrap();
    let root = ca.certificate().clone();
    let options = proxy::Options {
        tls: Arc::new(TlsOptions {
            ca: Some(ca),
            ..TlsOptions::default()
        }),
        ..options()
    };
    let edge = Edge::start(options);
    let plain = tagged_echo("127.0.0.1:0", "P").await;
    let leaf =
        |stream: &TlsStream<TcpStream>| stream.get_ref().1.peer_certificates().unwrap()[0].clone();
    let before = tls_app('f', 6206, plain, "flexible");
    edge.publish(&[&before]).await;
    let first = leaf(&client(sa("127.73.1.1:6206"), &root, HOST).await.unwrap());
    let mut retuned = before.clone();
    retuned.config.ip_firewall = true;
    edge.publish(&[&retuned]).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let second = leaf(&client(sa("127.73.1.1:6206"), &root, HOST).await.unwrap());
    assert_eq!(first, second, "same certificate after a retune");
    let mut full = retuned.clone();
    full.config.tls = model::Tls::Full;
    edge.publish(&[&full]).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let third = leaf(&client(sa("127.73.1.1:6206"), &root, HOST).await.unwrap());
    assert_ne!(second, third, "a new mode builds its TLS anew");
    edge.stop().await;
}

/// The leaf a TLS client to `edge` was shown.
async fn leaf_at(edge: SocketAddr, root: &CertificateDer<'static>) -> CertificateDer<'static> {
    let stream = client(edge, root, HOST).await.unwrap();
    stream.get_ref().1.peer_certificates().unwrap()[0].clone()
}

#[tokio::test]
async fn node_ca_leaves_live_at_most_90_days_and_are_renewed_without_a_restart() {
    let (ca, _, _) = NodeCa::generate().unwrap();
    let root = ca.certificate().clone();
    let (_, parsed) = x509_parser::parse_x509_certificate(&root).unwrap();
    let ca_days = parsed.validity().time_to_expiration().unwrap().whole_days();
    assert!(
        (3640..=3651).contains(&ca_days),
        "CA valid {ca_days} more days"
    );
    let options = proxy::Options {
        tls: Arc::new(TlsOptions {
            ca: Some(ca.with_leaf_lifetime(Duration::from_secs(3))),
            ..TlsOptions::default()
        }),
        ..options()
    };
    let edge = Edge::start(options);
    let origin = tagged_echo("127.0.0.1:0", "R").await;
    edge.publish(&[&tls_app('a', 6211, origin, "flexible")])
        .await;
    let at = sa("127.73.1.1:6211");
    let first = leaf_at(at, &root).await;
    assert_eq!(leaf_at(at, &root).await, first, "kept while young");
    // Two thirds of its 3 s life later, the next handshake gets a new leaf.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let second = leaf_at(at, &root).await;
    assert_ne!(second, first, "renewed");
    assert_eq!(tag_through(at, &root, HOST).await, Some(b'R'));
    edge.stop().await;

    // At full length a leaf is valid 90 days.
    let (ca, _, _) = NodeCa::generate().unwrap();
    let (chain, _) = ca.issue(HOST).unwrap();
    let (_, leaf) = x509_parser::parse_x509_certificate(&chain[0]).unwrap();
    let days = leaf.validity().time_to_expiration().unwrap().whole_days();
    assert!((89..=90).contains(&days), "leaf valid {days} more days");
}
