//! The custom certificate API through `spectra serve`: uploads checked and refused with the
//! reason, keys never shown, the new permission pair, and the certificate each handshake gets
//! (an exact name, then a wildcard, then the node CA) following uploads, edits and deletes
//! within a second, without a restart.

mod common;

use common::*;
use reqwest::StatusCode;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// Accepts any certificate: the test looks at which one it was.
#[derive(Debug)]
struct AnyCertificate;

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }
    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The leaf the edge at `edge` serves for `name`.
async fn served(edge: &str, name: &str) -> Option<CertificateDer<'static>> {
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .dangerous()
    .with_custom_certificate_verifier(Arc::new(AnyCertificate))
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let name = ServerName::try_from(name.to_owned()).unwrap();
    let tcp = TcpStream::connect(edge).await.ok()?;
    let tls = connector.connect(name, tcp).await.ok()?;
    tls.get_ref()
        .1
        .peer_certificates()?
        .first()
        .cloned()
        .map(|c| c.into_owned())
}

/// Waits up to a second for the edge to serve `want`; how long it took.
async fn serves_within_a_second(edge: &str, name: &str, want: &CertificateDer<'_>) -> Duration {
    let started = Instant::now();
    loop {
        if served(edge, name).await.as_ref() == Some(want) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "not served within a second"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A certificate for `names` valid from `from_days` to `to_days` around now, and its key.
fn issue(names: &[&str], from_days: i64, to_days: i64) -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let mut params = rcgen::CertificateParams::new(names).unwrap();
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now + time::Duration::days(from_days);
    params.not_after = now + time::Duration::days(to_days);
    (params.self_signed(&key).unwrap().pem(), key.serialize_pem())
}

fn der(pem: &str) -> CertificateDer<'static> {
    CertificateDer::from_pem_slice(pem.as_bytes()).unwrap()
}

struct Api<'a> {
    node: &'a Node,
    zone: String,
    token: String,
}

impl Api<'_> {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let url = format!(
            "{}/zones/{}/custom_certificates{path}",
            self.node.base, self.zone
        );
        let mut request = reqwest::Client::new()
            .request(method, url)
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        send(request).await
    }

    async fn upload(&self, (certificate, key): &(String, String)) -> String {
        let body = json!({"certificate": certificate, "private_key": key});
        let (status, body) = self.call(reqwest::Method::POST, "", Some(body)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(
            !body.to_string().contains("PRIVATE KEY"),
            "the key is never returned"
        );
        body["result"]["id"].as_str().unwrap().to_owned()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshakes_follow_uploads_edits_and_deletes_within_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let zone = last_line(&cli(dir.path(), &["zone", "create", "example.com"]));
    let token = last_line(&cli(
        dir.path(),
        &[
            "token",
            "create",
            "--permission",
            "zone-settings-write",
            "--permission",
            "ssl-certificates-write",
        ],
    ));
    let node = Node::with(dir.path(), &["--edge-ipv4-pool", "127.64.0.0/24"]);
    let origin = tagged("127.0.0.1:0", b"C").await;
    let app = json!({"protocol": "tcp/2443", "dns": {"type": "CNAME", "name": "ssh.example.com"}, "tls": "flexible",
        "origin_direct": [format!("tcp://{origin}")], "edge_ips": {"type": "dynamic", "connectivity": "ipv4"}});
    create_app(&node, &zone, &token, app).await;
    let (edge, host) = ("127.64.0.1:2443", "ssh.example.com");
    let ca = CertificateDer::from_pem_file(dir.path().join("tls/ca.crt")).unwrap();
    let mut first = None;
    for _ in 0..50 {
        first = served(edge, host).await;
        if first.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let from_ca = first.expect("the app serves TLS");
    let (_, leaf) = x509_parser::parse_x509_certificate(&from_ca).unwrap();
    let (_, ca_cert) = x509_parser::parse_x509_certificate(&ca).unwrap();
    assert_eq!(
        leaf.issuer(),
        ca_cert.subject(),
        "without uploads, the node CA's"
    );

    let api = Api {
        node: &node,
        zone,
        token,
    };
    let exact = issue(&[host], -1, 90);
    let exact_id = api.upload(&exact).await;
    let took = serves_within_a_second(edge, host, &der(&exact.0)).await;
    eprintln!("an upload served after {took:?}");
    // A newer wildcard does not beat the exact name.
    let wildcard = issue(&["*.example.com"], -1, 90);
    let wildcard_id = api.upload(&wildcard).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(served(edge, host).await, Some(der(&exact.0)));
    // The exact one deleted: the wildcard serves.
    let (status, _) = api
        .call(reqwest::Method::DELETE, &format!("/{exact_id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    serves_within_a_second(edge, host, &der(&wildcard.0)).await;
    // An edit (a new certificate and key) serves at once.
    let renewed = issue(&["*.example.com"], -1, 30);
    let body = json!({"certificate": renewed.0, "private_key": renewed.1});
    let (status, edited) = api
        .call(
            reqwest::Method::PATCH,
            &format!("/{wildcard_id}"),
            Some(body),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    serves_within_a_second(edge, host, &der(&renewed.0)).await;
    // All gone: the node CA's again.
    api.call(reqwest::Method::DELETE, &format!("/{wildcard_id}"), None)
        .await;
    let started = Instant::now();
    loop {
        let now = served(edge, host).await.unwrap();
        let (_, leaf) = x509_parser::parse_x509_certificate(&now).unwrap();
        if leaf.issuer() == ca_cert.subject() {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(1));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_are_checked_and_the_permission_pair_applies() {
    let dir = tempfile::tempdir().unwrap();
    let zone = last_line(&cli(dir.path(), &["zone", "create", "example.com"]));
    let writer = last_line(&cli(
        dir.path(),
        &["token", "create", "--permission", "ssl-certificates-write"],
    ));
    let reader = last_line(&cli(
        dir.path(),
        &["token", "create", "--permission", "ssl-certificates-read"],
    ));
    let settings = last_line(&cli(
        dir.path(),
        &["token", "create", "--permission", "zone-settings-write"],
    ));
    let node = Node::with(dir.path(), &[]);
    let as_writer = Api {
        node: &node,
        zone: zone.clone(),
        token: writer,
    };
    let good = issue(&["a.example.com", "*.a.example.com"], -1, 90);
    let id = as_writer.upload(&good).await;

    let (status, got) = as_writer
        .call(reqwest::Method::GET, &format!("/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let got = &got["result"];
    assert_eq!(got["hosts"], json!(["a.example.com", "*.a.example.com"]));
    assert_eq!(
        (got["status"].as_str(), got["bundle_method"].as_str()),
        (Some("active"), Some("ubiquitous"))
    );
    assert_eq!(got["signature"], "ECDSAWithSHA256");
    for field in [
        "issuer",
        "uploaded_on",
        "modified_on",
        "expires_on",
        "priority",
        "zone_id",
    ] {
        assert!(!got[field].is_null(), "{field}: {got}");
    }

    let (_, other_key) = issue(&["a.example.com"], -1, 90);
    let refusals = [
        (
            json!({"certificate": good.0, "private_key": other_key}),
            1401,
            "does not match",
        ),
        (
            json!({"certificate": issue(&["a.example.com"], -9, -1).0, "private_key": good.1}),
            1400,
            "expired",
        ),
        (
            json!({"certificate": issue(&["a.example.org"], -1, 9).0, "private_key": good.1}),
            1402,
            "outside the zone",
        ),
        (
            json!({"certificate": "garbage", "private_key": good.1}),
            1400,
            "PEM",
        ),
    ];
    for (body, code, says) in refusals {
        let (status, body) = as_writer.call(reqwest::Method::POST, "", Some(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["errors"][0]["code"], code, "{body}");
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains(says),
            "{body}"
        );
    }

    let as_reader = Api {
        node: &node,
        zone: zone.clone(),
        token: reader,
    };
    let (status, list) = as_reader.call(reqwest::Method::GET, "", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["result"].as_array().unwrap().len(), 1);
    assert!(!list.to_string().contains("PRIVATE KEY"));
    let (status, _) = as_reader
        .call(reqwest::Method::DELETE, &format!("/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "read does not write");
    let as_settings = Api {
        node: &node,
        zone,
        token: settings,
    };
    let (status, _) = as_settings.call(reqwest::Method::GET, "", None).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "zone settings do not cover certificates"
    );

    // The key is in the store, never in the API or the log.
    let (status, _) = as_writer
        .call(reqwest::Method::DELETE, &format!("/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = as_writer
        .call(reqwest::Method::GET, &format!("/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
