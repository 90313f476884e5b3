//! `traffic_type: https` apps through `spectra serve`: TLS terminated at the edge with the
//! app's certificate, HTTP/2 or HTTP/1.1 chosen by ALPN, `X-Forwarded-Proto: https`, and the
//! origin reached as the app's `tls` says: plain HTTP (`flexible`), HTTPS without checking
//! (`full`), HTTPS checked (`strict`: a self-signed origin is refused, 502).

mod common;
mod http_support;

use common::*;
use http_support::{origin, serve_origin, up};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

fn https_app(name: &str, port: u16, origin: SocketAddr, edge: &str, tls: &str) -> Value {
    json!({"protocol": format!("tcp/{port}"), "dns": {"type": "ADDRESS", "name": name}, "traffic_type": "https",
           "tls": tls, "origin_direct": [format!("tcp://{origin}")], "edge_ips": {"type": "static", "ips": [edge]}})
}

/// An HTTPS origin with a self-signed certificate for `origin.example.com`.
async fn tls_origin() -> SocketAddr {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["origin.example.com".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![cert.der().clone()],
        rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
    )
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(tls) = acceptor.accept(stream).await {
                    serve_origin(tls).await;
                }
            });
        }
    });
    addr
}

/// A client that trusts the node CA and finds `name` at `edge`.
fn client(dir: &std::path::Path, name: &str, edge: &str, http1_only: bool) -> reqwest::Client {
    let ca = std::fs::read(dir.join("tls/ca.crt")).unwrap();
    let mut builder = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .resolve(name, edge.parse().unwrap());
    if http1_only {
        builder = builder.http1_only();
    }
    builder.build().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_apps_speak_http2_or_http1_by_alpn_and_reach_origins_as_tls_says() {
    let dir = tempfile::tempdir().unwrap();
    let (zone, token) = zone_and_token(dir.path());
    let node = Node::with(dir.path(), &["--edge-static-allow", "127.65.0.0/16"]);
    let plain = origin().await;
    create_app(
        &node,
        &zone,
        &token,
        https_app(
            "www.example.com",
            8443,
            plain.addr,
            "127.65.0.5",
            "flexible",
        ),
    )
    .await;
    up("127.65.0.5:8443").await;

    let h2 = client(dir.path(), "www.example.com", "127.65.0.5:8443", false);
    let response = h2
        .get("https://www.example.com:8443/headers")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.version(),
        reqwest::Version::HTTP_2,
        "ALPN chose h2"
    );
    let seen: Value = response.json().await.unwrap();
    assert_eq!(seen["x-forwarded-proto"], "https");
    assert_eq!(
        seen["host"], "www.example.com:8443",
        "the h2 authority becomes Host"
    );
    assert_eq!(seen["cf-connecting-ip"], "127.0.0.1");
    let h1 = client(dir.path(), "www.example.com", "127.65.0.5:8443", true);
    let response = h1
        .get("https://www.example.com:8443/big?mb=4")
        .send()
        .await
        .unwrap();
    assert_eq!(response.version(), reqwest::Version::HTTP_11);
    assert_eq!(response.bytes().await.unwrap().len(), 4 * 1024 * 1024);

    // To an HTTPS origin: `full` takes its self-signed certificate, `strict` does not.
    let secure = tls_origin().await;
    create_app(
        &node,
        &zone,
        &token,
        https_app("full.example.com", 8444, secure, "127.65.0.6", "full"),
    )
    .await;
    create_app(
        &node,
        &zone,
        &token,
        https_app("strict.example.com", 8445, secure, "127.65.0.7", "strict"),
    )
    .await;
    up("127.65.0.6:8444").await;
    up("127.65.0.7:8445").await;
    let full = client(dir.path(), "full.example.com", "127.65.0.6:8444", false);
    let response = full
        .get("https://full.example.com:8444/headers")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let strict = client(dir.path(), "strict.example.com", "127.65.0.7:8445", false);
    let response = strict
        .get("https://strict.example.com:8445/headers")
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        502,
        "an origin certificate nobody vouches for"
    );
}
