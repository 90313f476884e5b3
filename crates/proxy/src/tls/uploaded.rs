//! Certificates uploaded through the API, indexed for handshakes: by exact host and by the
//! parent of a wildcard, newest upload first. Rebuilt when the zones' certificates change.

use chrono::{DateTime, Utc};
use model::Certificate;
use rustls::sign::CertifiedKey;
use std::collections::HashMap;
use std::sync::Arc;

/// One usable certificate: until when, and the chain with its key.
#[derive(Debug, Clone)]
struct Usable {
    expires_on: DateTime<Utc>,
    key: Arc<CertifiedKey>,
}

/// Every uploaded certificate that can serve, by name.
#[derive(Debug, Default)]
pub struct Uploaded {
    exact: HashMap<String, Vec<Usable>>,
    /// By the parent of the wildcard: `example.com` for `*.example.com`.
    wildcard: HashMap<String, Vec<Usable>>,
}

impl Uploaded {
    pub fn build<'a>(certificates: impl Iterator<Item = &'a Certificate>) -> Uploaded {
        let mut sorted: Vec<&Certificate> = certificates.collect();
        // Newest first; the id breaks ties so every node picks the same.
        sorted.sort_by(|a, b| (b.uploaded_on, &b.id).cmp(&(a.uploaded_on, &a.id)));
        let mut out = Uploaded::default();
        for c in sorted {
            let key = match model::certified_key(&c.fields.certificate, &c.fields.private_key) {
                Ok(key) => Arc::new(key),
                Err(error) => {
                    tracing::warn!(certificate = %c.id, %error, "an uploaded certificate cannot serve");
                    continue;
                }
            };
            let usable = Usable {
                expires_on: c.fields.inspected.expires_on,
                key,
            };
            for host in &c.fields.inspected.hosts {
                match host.strip_prefix("*.") {
                    Some(parent) => out.wildcard.entry(parent.to_owned()),
                    None => out.exact.entry(host.clone()),
                }
                .or_default()
                .push(usable.clone());
            }
        }
        out
    }

    /// The newest unexpired certificate naming `hostname` exactly, else the newest wildcard
    /// covering it (one label deep).
    pub fn find(&self, hostname: &str, now: DateTime<Utc>) -> Option<Arc<CertifiedKey>> {
        let live = |list: Option<&Vec<Usable>>| {
            list.and_then(|l| l.iter().find(|u| u.expires_on > now))
                .map(|u| u.key.clone())
        };
        let host = hostname.to_ascii_lowercase();
        live(self.exact.get(&host)).or_else(|| {
            let (_, parent) = host.split_once('.')?;
            live(self.wildcard.get(parent))
        })
    }
}
