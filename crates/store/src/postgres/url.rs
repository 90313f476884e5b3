//! The store's URL. libpq's `sslmode` and `sslrootcert` are read here, since tokio-postgres
//! knows neither the verifying modes nor root files; the rest is tokio-postgres's to parse.
//! TLS is used when the URL asks for it (`require`, `verify-ca`, `verify-full`), and then the
//! server's certificate is always checked: against `sslrootcert`, else the web PKI's roots.

use crate::{Result, StoreError};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};
use std::str::FromStr;
use std::sync::Arc;
use tokio_postgres::config::SslMode;
use tokio_postgres::Config;
use tokio_postgres_rustls::MakeRustlsConnect;

fn invalid(why: impl std::fmt::Display) -> StoreError {
    StoreError::Config(format!("invalid PostgreSQL URL: {why}"))
}

/// Where the store is and how to reach it.
pub struct Target {
    pub config: Config,
    pub tls: MakeRustlsConnect,
}

pub fn parse(url: &str) -> Result<Target> {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).map_err(invalid)?;
    let mut mode = SslMode::Disable;
    let mut root_file = None;
    let mut rest = Vec::new();
    for (key, value) in pairs {
        match key.as_str() {
            "sslmode" => {
                mode = match value.as_str() {
                    "disable" | "allow" | "prefer" => SslMode::Disable,
                    "require" | "verify-ca" | "verify-full" => SslMode::Require,
                    other => return Err(invalid(format!("sslmode={other}"))),
                }
            }
            "sslrootcert" => root_file = Some(value),
            _ => rest.push((key, value)),
        }
    }
    let query = serde_urlencoded::to_string(&rest).map_err(invalid)?;
    let url = if query.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{query}")
    };
    let mut config = Config::from_str(&url).map_err(invalid)?;
    config.ssl_mode(mode);
    let mut roots = RootCertStore::empty();
    match &root_file {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|c| c.collect::<std::result::Result<Vec<_>, _>>())
                .map_err(|e| invalid(format!("sslrootcert={path}: {e}")))?;
            roots.add_parsable_certificates(certs);
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(invalid)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Target {
        config,
        tls: MakeRustlsConnect::new(tls),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_only_when_the_url_asks_and_other_options_pass_through() {
        let plain = parse("postgres://u@127.0.0.1:5432/db").unwrap();
        assert_eq!(plain.config.get_ssl_mode(), SslMode::Disable);
        let prefer = parse("postgres://u@h/db?sslmode=prefer&application_name=x").unwrap();
        assert_eq!(prefer.config.get_ssl_mode(), SslMode::Disable);
        assert_eq!(prefer.config.get_application_name(), Some("x"));
        for mode in ["require", "verify-ca", "verify-full"] {
            let tls = parse(&format!("postgres://u@h/db?sslmode={mode}")).unwrap();
            assert_eq!(tls.config.get_ssl_mode(), SslMode::Require, "{mode}");
        }
        assert!(parse("postgres://u@h/db?sslmode=sometimes").is_err());
        assert!(parse("postgres://u@h/db?sslmode=require&sslrootcert=/nonexistent.pem").is_err());
    }
}
