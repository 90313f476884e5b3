//! A certificate chain with its key, and the crypto provider every TLS configuration uses.

use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::sync::Arc;

/// A certificate chain and its key.
pub type Certified = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}
