//! The node's heartbeat: every few seconds it writes who it is and the state of every listener
//! to the store, where the other nodes, the API's status and `spectra node list` read it. A
//! store that cannot be reached only delays the next heartbeat: traffic never waits on it.

use model::{Node, NodeListener, HEARTBEAT_EVERY};
use proxy::StatusBoard;
use std::sync::Arc;
use store::Store;
use tokio_util::sync::CancellationToken;

/// This machine's host name, the default node name.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "spectra".to_owned())
}

/// Reports `node` (with the board's listeners) until `shutdown`.
pub async fn run(
    store: Arc<dyn Store>,
    mut node: Node,
    board: Arc<StatusBoard>,
    shutdown: CancellationToken,
) {
    loop {
        node.last_seen = chrono::Utc::now();
        node.listeners = board
            .all()
            .into_iter()
            .map(|(app, listeners)| (app, listeners.iter().map(NodeListener::from).collect()))
            .collect();
        let (s, beat) = (store.clone(), node.clone());
        match tokio::task::spawn_blocking(move || s.heartbeat(&beat)).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "cannot record this node's heartbeat"),
            Err(error) => tracing::warn!(%error, "heartbeat task failed"),
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(HEARTBEAT_EVERY) => {}
        }
    }
}
