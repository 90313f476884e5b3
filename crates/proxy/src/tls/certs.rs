//! Certificates for apps with `tls` set: the operator's for a hostname, or one the node's own
//! CA issues; and the rustls configurations of each app's edge (server) and origin (client) side.

use super::keys::{provider, Certified};
use super::node_ca::NodeCa;
use super::uploaded::Uploaded;
use arc_swap::ArcSwap;
use model::{App, Origin, Tls, TrafficType};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use tokio_rustls::TlsConnector;

/// What the node knows of TLS, from `serve`'s flags and data dir.
#[derive(Default)]
pub struct TlsOptions {
    /// The operator's certificates, by lower-case hostname: used before the node CA's.
    pub certificates: HashMap<String, Arc<Certified>>,
    /// Issues a certificate for a hostname the operator gave none for.
    pub ca: Option<NodeCa>,
    /// Roots an origin's certificate may chain to under `tls: strict`, besides the web PKI's.
    pub origin_roots: Vec<CertificateDer<'static>>,
}

impl fmt::Debug for TlsOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsOptions")
            .field(
                "certificates",
                &self.certificates.keys().collect::<Vec<_>>(),
            )
            .field("ca", &self.ca.is_some())
            .field("origin_roots", &self.origin_roots.len())
            .finish()
    }
}

/// An app's TLS: the edge side for clients, and for `full` and `strict` the origin side.
pub(crate) struct AppTls {
    /// The app's hostname: a client's SNI, when it sends one, must name it.
    pub hostname: String,
    /// `Err`: no certificate could be had for the hostname; connections are refused.
    pub edge: Result<Arc<ServerConfig>, String>,
    /// `None` for `flexible`: plain TCP to the origin.
    pub origin: Option<(TlsConnector, ServerName<'static>)>,
}

impl AppTls {
    /// `None` for `tls: off` (and for UDP apps, which cannot have TLS), except for an `https`
    /// app, which always terminates TLS at the edge (`tls` then says how it reaches origins).
    pub fn new(
        app: &App,
        options: &TlsOptions,
        uploaded: &Arc<ArcSwap<Uploaded>>,
    ) -> Option<AppTls> {
        let https = app.config.traffic_type == TrafficType::Https;
        if app.config.tls == Tls::Off && !https {
            return None;
        }
        let hostname = app.config.dns.name.to_ascii_lowercase();
        // The origin is checked against its own name when it has one, else the app's.
        let origin_name = match &app.config.origin {
            Origin::Dns(dns) => dns.name.trim_end_matches('.').to_owned(),
            Origin::Direct(_) => hostname.clone(),
        };
        let client_config = match app.config.tls {
            Tls::Full => Some(origin_config(None)),
            Tls::Strict => Some(origin_config(Some(&options.origin_roots))),
            _ => None,
        };
        let mut edge = edge_config(&hostname, options, uploaded, https).map(Arc::new);
        let mut origin = None;
        if let Some(config) = client_config {
            match ServerName::try_from(origin_name) {
                Ok(name) => origin = Some((TlsConnector::from(Arc::new(config)), name)),
                // Never fall back to plain TCP: refuse the app's connections instead.
                Err(e) => edge = Err(format!("the origin name is not a TLS server name: {e}")),
            }
        }
        if let Err(error) = &edge {
            tracing::error!(%hostname, %error, "TLS connections to this app will be refused");
        }
        Some(AppTls {
            hostname,
            edge,
            origin,
        })
    }
}

/// Chooses the edge certificate at each handshake: an uploaded one covering the app's hostname
/// (exact name, then wildcard; the newest), else the operator's file, else the node CA's. An
/// upload, edit or delete applies to the next handshake.
#[derive(Debug)]
struct Chooser {
    hostname: String,
    uploaded: Arc<ArcSwap<Uploaded>>,
    fallback: Option<Arc<dyn ResolvesServerCert>>,
}

impl ResolvesServerCert for Chooser {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        if let Some(key) = self
            .uploaded
            .load()
            .find(&self.hostname, chrono::Utc::now())
        {
            return Some(key);
        }
        self.fallback.as_ref()?.resolve(hello)
    }
}

/// The operator's certificate file for a hostname.
#[derive(Debug)]
struct Fixed(Arc<CertifiedKey>);

impl ResolvesServerCert for Fixed {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}

/// The edge configuration of `hostname`, choosing its certificate at each handshake.
/// `https` apps offer HTTP/2 and HTTP/1.1 by ALPN.
fn edge_config(
    hostname: &str,
    options: &TlsOptions,
    uploaded: &Arc<ArcSwap<Uploaded>>,
    https: bool,
) -> Result<ServerConfig, String> {
    let fallback: Option<Arc<dyn ResolvesServerCert>> =
        match (options.certificates.get(hostname), &options.ca) {
            (Some(certified), _) => {
                let signing = provider()
                    .key_provider
                    .load_private_key(certified.1.clone_key())
                    .map_err(|e| e.to_string())?;
                let key = CertifiedKey::new(certified.0.clone(), signing);
                Some(Arc::new(Fixed(Arc::new(key))))
            }
            (None, Some(ca)) => Some(Arc::new(ca.leaf_for(hostname)?)),
            // Only an upload can serve this hostname.
            (None, None) => None,
        };
    let chooser = Chooser {
        hostname: hostname.to_owned(),
        uploaded: uploaded.clone(),
        fallback,
    };
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(chooser));
    if https {
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    }
    Ok(config)
}

/// A client config that verifies against the web PKI and `roots`, or (`None`) accepts any
/// certificate, as `tls: full` asks.
fn origin_config(roots: Option<&[CertificateDer<'static>]>) -> ClientConfig {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default versions");
    match roots {
        Some(extra) => {
            let mut store =
                RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            store.add_parsable_certificates(extra.iter().cloned());
            builder.with_root_certificates(store).with_no_client_auth()
        }
        None => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider())))
            .with_no_client_auth(),
    }
}

/// `tls: full`: the origin's certificate is not checked (its handshake signature still is).
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
