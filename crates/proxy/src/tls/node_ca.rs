//! The node's own certificate authority: valid ten years, it issues each `tls` app's hostname
//! a leaf of at most 90 days, and issues a new one, without a restart, once two thirds of a
//! leaf's life has passed.

use super::keys::{provider, Certified};
use arc_swap::ArcSwap;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use time::OffsetDateTime;

/// How long the CA's own certificate is valid.
const CA_LIFETIME: Duration = Duration::from_secs(10 * 365 * 86_400);
/// How long a leaf is valid, at most.
const LEAF_LIFETIME: Duration = Duration::from_secs(90 * 86_400);
/// Validity starts this far back, for clients whose clocks run a little behind.
const BACKDATE: Duration = Duration::from_secs(86_400);

/// The node's own certificate authority. Clients that trust its certificate accept every
/// hostname the node serves without an operator certificate. Cheap to clone.
#[derive(Clone)]
pub struct NodeCa {
    issuer: Arc<Issuer<'static, KeyPair>>,
    certificate: CertificateDer<'static>,
    leaf_lifetime: Duration,
}

/// The CA's name and powers; the same each time, so a kept key signs under the kept certificate.
fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    params
        .distinguished_name
        .push(DnType::CommonName, "Spectra edge CA");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params
}

/// From `now - BACKDATE` to `now + lifetime`.
fn validity(params: &mut CertificateParams, now: SystemTime, lifetime: Duration) {
    params.not_before = OffsetDateTime::from(now - BACKDATE);
    params.not_after = OffsetDateTime::from(now + lifetime);
}

impl NodeCa {
    /// A new CA, valid ten years from now, with its certificate and key as PEM for the caller
    /// to keep.
    pub fn generate() -> Result<(NodeCa, String, String), rcgen::Error> {
        let key = KeyPair::generate()?;
        let mut params = ca_params();
        validity(&mut params, SystemTime::now(), CA_LIFETIME);
        let certificate = params.self_signed(&key)?;
        let pems = (certificate.pem(), key.serialize_pem());
        let ca = NodeCa {
            issuer: Arc::new(Issuer::new(ca_params(), key)),
            certificate: certificate.der().clone(),
            leaf_lifetime: LEAF_LIFETIME,
        };
        Ok((ca, pems.0, pems.1))
    }

    /// The CA `generate` made, from the PEM kept.
    pub fn from_pem(certificate: &str, key: &str) -> Result<NodeCa, String> {
        let key = KeyPair::from_pem(key).map_err(|e| e.to_string())?;
        let certificate =
            CertificateDer::from_pem_slice(certificate.as_bytes()).map_err(|e| e.to_string())?;
        Ok(NodeCa {
            issuer: Arc::new(Issuer::new(ca_params(), key)),
            certificate,
            leaf_lifetime: LEAF_LIFETIME,
        })
    }

    /// The same CA issuing leaves valid for `lifetime` (shorter lives show renewal in tests).
    pub fn with_leaf_lifetime(mut self, lifetime: Duration) -> NodeCa {
        self.leaf_lifetime = lifetime.min(LEAF_LIFETIME);
        self
    }

    pub fn certificate(&self) -> &CertificateDer<'static> {
        &self.certificate
    }

    /// A certificate for `hostname`, chained to this CA, valid for the leaf lifetime.
    pub fn issue(&self, hostname: &str) -> Result<Certified, rcgen::Error> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(vec![hostname.to_owned()])?;
        params.distinguished_name.push(DnType::CommonName, hostname);
        validity(&mut params, SystemTime::now(), self.leaf_lifetime);
        let leaf = params.signed_by(&key, &self.issuer)?;
        let key = PrivateKeyDer::Pkcs8(key.serialize_der().into());
        Ok((vec![leaf.der().clone(), self.certificate.clone()], key))
    }

    /// The certificates of `hostname` for the edge: one now, a new one when it is due.
    pub(crate) fn leaf_for(&self, hostname: &str) -> Result<Renewing, String> {
        let renewing = Renewing {
            ca: self.clone(),
            hostname: hostname.to_owned(),
            current: ArcSwap::from_pointee(Leaf::issue(self, hostname)?),
            busy: AtomicBool::new(false),
        };
        Ok(renewing)
    }
}

/// A leaf in service, and when to replace it.
struct Leaf {
    key: Arc<CertifiedKey>,
    renew_at: SystemTime,
}

impl Leaf {
    fn issue(ca: &NodeCa, hostname: &str) -> Result<Leaf, String> {
        let (chain, key) = ca.issue(hostname).map_err(|e| e.to_string())?;
        let signing = provider()
            .key_provider
            .load_private_key(key)
            .map_err(|e| e.to_string())?;
        Ok(Leaf {
            key: Arc::new(CertifiedKey::new(chain, signing)),
            renew_at: SystemTime::now() + ca.leaf_lifetime * 2 / 3,
        })
    }
}

/// Serves a hostname's leaf and issues the next one once two thirds of its life are gone.
pub(crate) struct Renewing {
    ca: NodeCa,
    hostname: String,
    current: ArcSwap<Leaf>,
    /// Set while one handshake issues the next leaf, so others go on with the current one.
    busy: AtomicBool,
}

impl fmt::Debug for Renewing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Renewing")
            .field("hostname", &self.hostname)
            .finish()
    }
}

impl ResolvesServerCert for Renewing {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let due = SystemTime::now() >= self.current.load().renew_at;
        if due && !self.busy.swap(true, Ordering::Acquire) {
            match Leaf::issue(&self.ca, &self.hostname) {
                Ok(leaf) => {
                    tracing::info!(hostname = %self.hostname, "edge certificate renewed");
                    self.current.store(Arc::new(leaf));
                }
                // The current leaf is still valid for a third of its life: keep serving it.
                Err(error) => {
                    tracing::warn!(hostname = %self.hostname, %error, "cannot renew the edge certificate")
                }
            }
            self.busy.store(false, Ordering::Release);
        }
        Some(self.current.load().key.clone())
    }
}
