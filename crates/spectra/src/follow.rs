//! Publishes the store's configuration to the data plane: the whole snapshot at start, then
//! each change, woken by the API's commits and by the store's own feed (other nodes' writes,
//! on PostgreSQL), and polled for changes nothing announced (the CLI on SQLite, a lost
//! notification).

use model::Snapshot;
use std::sync::Arc;
use std::time::Duration;
use store::Store;
use tokio::sync::{watch, Notify};
use tokio_util::sync::CancellationToken;

/// How often the store is asked for changes nobody announced.
const POLL: Duration = Duration::from_millis(200);

pub async fn follow(
    store: Arc<dyn Store>,
    committed: Arc<Notify>,
    published: watch::Sender<Arc<Snapshot>>,
    shutdown: CancellationToken,
) {
    let feed = store.changes();
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
            Ok(Ok(changes)) => changes,
            Ok(Err(error)) => {
                tracing::error!(%error, "cannot read configuration changes; retrying");
                continue;
            }
            Err(error) => {
                tracing::error!(%error, "configuration reader failed; retrying");
                continue;
            }
        };
        if changes.revision > since {
            let next = published.borrow().apply(changes);
            tracing::debug!(revision = next.revision, "configuration published");
            published.send_replace(Arc::new(next));
        }
    }
}
