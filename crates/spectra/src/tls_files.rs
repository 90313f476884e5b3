//! The files behind the edge's TLS: the node CA in the data dir (made on first start), the
//! operator's certificates (`--tls-cert-dir`), and extra origin roots (`--origin-ca`).

use anyhow::Context;
use proxy::{Certified, NodeCa, TlsOptions};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;
use std::sync::Arc;

/// Where the node CA lives, under the data dir.
pub const CA_DIR: &str = "tls";

pub fn load(
    data_dir: &Path,
    cert_dir: Option<&Path>,
    origin_ca: Option<&Path>,
) -> anyhow::Result<TlsOptions> {
    Ok(TlsOptions {
        ca: Some(node_ca(&data_dir.join(CA_DIR))?),
        certificates: match cert_dir {
            Some(dir) => certificates(dir)?,
            None => HashMap::new(),
        },
        origin_roots: match origin_ca {
            Some(file) => CertificateDer::pem_file_iter(file)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .with_context(|| {
                    format!("cannot read origin CA certificates {}", file.display())
                })?,
            None => Vec::new(),
        },
    })
}

/// The CA in `dir` (`ca.crt`, `ca.key`), made and kept there the first time.
fn node_ca(dir: &Path) -> anyhow::Result<NodeCa> {
    let (cert_path, key_path) = (dir.join("ca.crt"), dir.join("ca.key"));
    if key_path.exists() {
        let cert = fs::read_to_string(&cert_path)
            .with_context(|| format!("cannot read {}", cert_path.display()))?;
        let key = fs::read_to_string(&key_path)
            .with_context(|| format!("cannot read {}", key_path.display()))?;
        return NodeCa::from_pem(&cert, &key)
            .map_err(|e| anyhow::anyhow!("invalid node CA in {}: {e}", dir.display()));
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    let (ca, cert, key) = NodeCa::generate()?;
    // The key first, readable by this user only; the certificate is public.
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&key_path)
        .and_then(|mut f| std::io::Write::write_all(&mut f, key.as_bytes()))
        .with_context(|| format!("cannot write {}", key_path.display()))?;
    fs::write(&cert_path, cert).with_context(|| format!("cannot write {}", cert_path.display()))?;
    tracing::info!(certificate = %cert_path.display(), "node CA created: clients that trust it accept the edge's certificates");
    Ok(ca)
}

/// `HOSTNAME.crt` (the chain, leaf first) with `HOSTNAME.key`, for each hostname in `dir`.
fn certificates(dir: &Path) -> anyhow::Result<HashMap<String, Arc<Certified>>> {
    let mut out = HashMap::new();
    let entries = fs::read_dir(dir)
        .with_context(|| format!("cannot read --tls-cert-dir {}", dir.display()))?;
    for entry in entries {
        let path = entry?.path();
        if path.extension().is_none_or(|e| e != "crt") {
            continue;
        }
        let Some(hostname) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        let (chain, key) = certified(&path, &path.with_extension("key"))?;
        tracing::info!(
            hostname,
            certificates = chain.len(),
            "edge certificate loaded"
        );
        out.insert(hostname.to_ascii_lowercase(), Arc::new((chain, key)));
    }
    Ok(out)
}

/// A PEM certificate chain (leaf first) and its PEM private key.
pub fn certified(cert: &Path, key: &Path) -> anyhow::Result<Certified> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("cannot read certificates {}", cert.display()))?;
    anyhow::ensure!(!chain.is_empty(), "no certificate in {}", cert.display());
    let key = PrivateKeyDer::from_pem_file(key).with_context(|| {
        format!(
            "cannot read the key {} of {}",
            key.display(),
            cert.display()
        )
    })?;
    Ok((chain, key))
}
