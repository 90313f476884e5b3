//! Updates to another DNS server (RFC 2136, TSIG-signed): the publication's address records are
//! added, changed and removed there as they change here, and only those Spectra added (the
//! records it owns are kept in a file, so a restart reconciles instead of starting blind).

pub mod key;
pub mod plan;
pub mod wire;

use model::{DnsUpdateState, Publication};
use plan::{desired, plan, Records};
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

pub use key::Key;
pub use wire::UpdateError;

/// Records sent in one UPDATE message (well inside TCP's 64 KiB).
const RECORDS_PER_MESSAGE: usize = 500;
/// Every record is asserted again this often, restoring any removed by hand.
const RECONCILE_EVERY: Duration = Duration::from_secs(600);
/// Retry delays while the server cannot be updated: doubling up to the last.
const FIRST_RETRY: Duration = Duration::from_secs(1);
const LAST_RETRY: Duration = Duration::from_secs(60);

/// Where updates go, signed how, and where ownership is kept.
#[derive(Debug, Clone)]
pub struct Target {
    pub server: SocketAddr,
    pub key: Option<Key>,
    /// The file of records Spectra added there (JSON).
    pub owned_file: PathBuf,
}

/// The ownership file: the records added on `server`.
#[derive(Debug, Default, Serialize, Deserialize)]
struct OwnedFile {
    server: Option<SocketAddr>,
    zones: Records,
}

impl Target {
    fn load(&self) -> Records {
        let file: OwnedFile = match std::fs::read(&self.owned_file) {
            Ok(bytes) => match serde_json::from_slice(&bytes) {
                Ok(file) => file,
                Err(error) => {
                    tracing::warn!(file = %self.owned_file.display(), %error, "unreadable DNS ownership file: starting without it");
                    return Records::new();
                }
            },
            Err(_) => return Records::new(),
        };
        if file.server != Some(self.server) {
            // Its records are on another server: none of this one's are ours.
            return Records::new();
        }
        file.zones
    }

    fn save(&self, owned: &Records) {
        let file = OwnedFile {
            server: Some(self.server),
            zones: owned.clone(),
        };
        let tmp = self.owned_file.with_extension("tmp");
        let result = serde_json::to_vec_pretty(&file)
            .map_err(std::io::Error::other)
            .and_then(|bytes| std::fs::write(&tmp, bytes))
            .and_then(|()| std::fs::rename(&tmp, &self.owned_file));
        if let Err(error) = result {
            tracing::warn!(file = %self.owned_file.display(), %error, "cannot save the DNS ownership file");
        }
    }
}

/// Applies `updates` in messages of at most `RECORDS_PER_MESSAGE` records, recording in
/// `owned` each part the server accepted.
async fn apply(
    target: &Target,
    owned: &mut Records,
    updates: Vec<plan::ZoneUpdate>,
    ttl: u32,
) -> Result<(), UpdateError> {
    for update in updates {
        let changes: Vec<(bool, (String, std::net::IpAddr))> = update
            .remove
            .into_iter()
            .map(|r| (false, r))
            .chain(update.add.into_iter().map(|r| (true, r)))
            .collect();
        for chunk in changes.chunks(RECORDS_PER_MESSAGE) {
            let remove: Vec<_> = chunk.iter().filter(|c| !c.0).map(|c| c.1.clone()).collect();
            let add: Vec<_> = chunk.iter().filter(|c| c.0).map(|c| c.1.clone()).collect();
            let message = wire::message(&update.zone, &add, &remove, ttl)?;
            wire::exchange(target.server, &update.zone, message, target.key.as_ref()).await?;
            let records = owned.entry(update.zone.clone()).or_default();
            for r in &remove {
                records.remove(r);
            }
            records.extend(add);
            if records.is_empty() {
                owned.remove(&update.zone);
            }
            target.save(owned);
            tracing::info!(zone = %update.zone, added = chunk.iter().filter(|c| c.0).count(), removed = remove.len(), server = %target.server, "DNS records updated");
        }
    }
    Ok(())
}

/// Keeps `target` in step with `publication` until `shutdown`: reconciles at start, then
/// sends each change, retrying with backoff while the server cannot be updated.
pub async fn run(
    target: Target,
    mut publication: watch::Receiver<Arc<Publication>>,
    state: watch::Sender<DnsUpdateState>,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let mut owned = target.load();
    let mut full = true;
    let mut retry = FIRST_RETRY;
    let mut reconcile = tokio::time::Instant::now() + RECONCILE_EVERY;
    loop {
        let current = publication.borrow_and_update().clone();
        let updates = plan(&owned, &desired(&current), full);
        let wait = match apply(&target, &mut owned, updates, current.ttl).await {
            Ok(()) => {
                full = false;
                retry = FIRST_RETRY;
                state.send_replace(DnsUpdateState {
                    server: Some(target.server),
                    error: None,
                });
                None
            }
            Err(error) => {
                tracing::warn!(server = %target.server, %error, retry_in = ?retry, "DNS update failed");
                state.send_replace(DnsUpdateState {
                    server: Some(target.server),
                    error: Some(error.to_string()),
                });
                let wait = retry;
                retry = (retry * 2).min(LAST_RETRY);
                Some(wait)
            }
        };
        match wait {
            Some(wait) => tokio::select! {
                () = &mut shutdown => return,
                () = tokio::time::sleep(wait) => {}
            },
            None => tokio::select! {
                () = &mut shutdown => return,
                changed = publication.changed() => if changed.is_err() { return },
                () = tokio::time::sleep_until(reconcile) => {
                    full = true;
                    reconcile = tokio::time::Instant::now() + RECONCILE_EVERY;
                }
            },
        }
    }
}
