//! Publishes the store's configuration to the data plane: the whole snapshot at start, then
//! each change, woken by the API's commits and by the store's own feed (other nodes' writes,
//! on PostgreSQL), and polled for changes nothing announced (the CLI on SQLite, a lost
//! notification).

use model::{EdgeIndex, LocalAddresses, LocalChange, Policy, Snapshot};
use std::sync::Arc;
use std::time::Duration;
use store::Credentials;
use store::Store;
use tokio::sync::{watch, Notify};
use tokio_util::sync::CancellationToken;

/// How often the store is asked for changes nobody announced.
const POLL: Duration = Duration::from_millis(200);

/// This node's own addresses for apps another node created, and those not yet stored.
pub struct Local {
    node: String,
    policy: Policy,
    kept: LocalAddresses,
    unsaved: Vec<LocalChange>,
    /// Where the last snapshot published places its apps.
    index: EdgeIndex,
}

impl Local {
    /// The node's stored assignments. Blocking.
    pub fn load(store: &dyn Store, node: String, policy: Policy) -> store::Result<Local> {
        let kept = store.node_addresses(&node)?;
        Ok(Local::new(node, policy, kept))
    }

    fn new(node: String, policy: Policy, kept: LocalAddresses) -> Local {
        Local {
            kept,
            node,
            policy,
            unsaved: Vec::new(),
            index: EdgeIndex::default(),
        }
    }

    /// Gives the apps `ids` of `next` (the snapshot `before` was, with changes applied) this
    /// node's addresses where they carry another's.
    pub fn apply(&mut self, before: &Snapshot, next: &mut Snapshot, ids: &[String]) {
        self.index.update(before, next);
        let changes = model::localize(next, ids, &mut self.kept, &self.policy, &mut self.index);
        self.unsaved.extend(changes);
    }

    /// Stores the new assignments; what cannot be stored now is tried again next time.
    pub async fn save(&mut self, store: &Arc<dyn Store>) {
        if self.unsaved.is_empty() {
            return;
        }
        let (s, node, changes) = (store.clone(), self.node.clone(), self.unsaved.clone());
        match tokio::task::spawn_blocking(move || s.save_node_addresses(&node, &changes)).await {
            Ok(Ok(())) => self.unsaved.clear(),
            Ok(Err(error)) => {
                tracing::warn!(%error, "cannot store this node's edge addresses; retrying")
            }
            Err(error) => tracing::warn!(%error, "edge address writer failed; retrying"),
        }
    }
}

/// Where a node starts: the configuration, its own addresses, and the credentials.
pub struct Start {
    pub snapshot: Snapshot,
    pub local: Local,
    pub credentials: Credentials,
}

/// Where to start: from the store, or, when it cannot be reached and `cache` is given, from
/// what was saved there last time. Blocking.
pub fn start(
    store: &dyn Store,
    node: String,
    policy: Policy,
    cache: Option<&std::path::Path>,
) -> anyhow::Result<Start> {
    let loaded = store.snapshot().and_then(|s| {
        let local = Local::load(store, node.clone(), policy.clone())?;
        // Only a node that keeps a local copy (PostgreSQL) needs the credentials.
        let credentials = match cache {
            Some(_) => store.credentials()?,
            None => Credentials::default(),
        };
        Ok((s, local, credentials))
    });
    let (mut snapshot, mut local, credentials) = match loaded {
        Ok(loaded) => loaded,
        Err(error) if error.is_unavailable() => {
            let Some(saved) = cache.and_then(crate::cache::load) else {
                anyhow::bail!(
                    "the store is unavailable and no configuration was saved here: {error}"
                );
            };
            tracing::warn!(%error, revision = saved.snapshot.revision, "the store is unavailable: serving the configuration saved locally until it is back");
            // Saved already localized: nothing to place again until the store answers.
            let mut local = Local::new(node, policy, saved.local);
            local.index = EdgeIndex::of(saved.snapshot.apps.values().map(|a| &**a));
            return Ok(Start {
                snapshot: saved.snapshot,
                local,
                credentials: saved.credentials,
            });
        }
        Err(error) => return Err(error.into()),
    };
    let ids: Vec<String> = snapshot.apps.keys().cloned().collect();
    local.apply(&Snapshot::default(), &mut snapshot, &ids);
    Ok(Start {
        snapshot,
        local,
        credentials,
    })
}

pub async fn follow(
    store: Arc<dyn Store>,
    mut local: Local,
    mut copy: Option<crate::cache::LocalCopy>,
    committed: Arc<Notify>,
    published: watch::Sender<Arc<Snapshot>>,
    shutdown: CancellationToken,
) {
    let feed = store.changes();
    // Whether the last read failed: an outage is logged when it starts and when it ends.
    let mut failing = false;
    loop {
        let from_feed = async {
            match &feed {
                Some(feed) => feed.notified().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = committed.notified() => {}
            () = from_feed => {}
            () = tokio::time::sleep(POLL) => {}
            () = shutdown.cancelled() => return,
        }
        let since = published.borrow().revision;
        let s = store.clone();
        let changes = match tokio::task::spawn_blocking(move || s.changes_since(since)).await {
            Ok(Ok(changes)) => {
                if std::mem::take(&mut failing) {
                    tracing::info!(
                        revision = changes.revision,
                        "the store answers again: catching up"
                    );
                }
                changes
            }
            Ok(Err(error)) => {
                if !std::mem::replace(&mut failing, true) {
                    tracing::error!(%error, "cannot read configuration changes; serving the last configuration and retrying");
                } else {
                    tracing::debug!(%error, "configuration changes still unreadable");
                }
                continue;
            }
            Err(error) => {
                tracing::error!(%error, "configuration reader failed; retrying");
                continue;
            }
        };
        if changes.revision > since {
            let ids: Vec<String> = changes
                .apps
                .iter()
                .map(|a| a.id.clone())
                .chain(changes.removed_apps.iter().cloned())
                .collect();
            let before = published.borrow().clone();
            let mut next = before.apply(changes);
            local.apply(&before, &mut next, &ids);
            tracing::debug!(revision = next.revision, "configuration published");
            published.send_replace(Arc::new(next));
            if let Some(copy) = &mut copy {
                copy.refresh_credentials(&store).await;
            }
        }
        local.save(&store).await;
        if let Some(copy) = &mut copy {
            let current = published.borrow().clone();
            copy.save(&current, &local.kept).await;
        }
    }
}
