//! The DNS publication, kept current: rebuilt whenever the served configuration, this node's
//! listeners or the fleet's heartbeats change, and handed on a watch channel to the DNS server,
//! the RFC 2136 updater and the API.

use model::{publish, Node, Publication, Snapshot};
use proxy::StatusBoard;
use std::sync::Arc;
use std::time::{Duration, Instant};
use store::Store;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// How often the inputs are looked at: an API change shows in DNS answers well within 1 s.
const CHECK_EVERY: Duration = Duration::from_millis(100);
/// How often the other nodes' heartbeats are read.
const PEERS_EVERY: Duration = Duration::from_secs(1);

/// What the publisher reads.
pub struct Inputs {
    pub store: Arc<dyn Store>,
    /// This node's name: its own heartbeat is not a peer.
    pub node_name: String,
    pub snapshots: watch::Receiver<Arc<Snapshot>>,
    pub board: Arc<StatusBoard>,
    pub ttl: u32,
    /// Whether other nodes may share the store (PostgreSQL): only then are heartbeats read.
    pub fleet: bool,
}

/// Publishes on `out` until `shutdown`.
pub async fn run(
    mut inputs: Inputs,
    out: watch::Sender<Arc<Publication>>,
    shutdown: CancellationToken,
) {
    let mut peers: Vec<Node> = Vec::new();
    let mut peers_read: Option<Instant> = None;
    let mut generation = None;
    let mut tick = tokio::time::interval(CHECK_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let mut stale = inputs.snapshots.has_changed().unwrap_or(false);
        if inputs.fleet && peers_read.is_none_or(|at| at.elapsed() >= PEERS_EVERY) {
            peers_read = Some(Instant::now());
            let store = inputs.store.clone();
            match tokio::task::spawn_blocking(move || store.nodes()).await {
                Ok(Ok(nodes)) => {
                    peers = nodes
                        .into_iter()
                        .filter(|n| n.name != inputs.node_name)
                        .collect();
                }
                // The peers read last time stay, until their heartbeats are too old.
                Ok(Err(error)) => tracing::debug!(%error, "cannot read the fleet's heartbeats"),
                Err(error) => tracing::warn!(%error, "heartbeat read failed"),
            }
            stale = true;
        }
        let now_generation = inputs.board.generation();
        if generation != Some(now_generation) {
            generation = Some(now_generation);
            stale = true;
        }
        if !stale {
            continue;
        }
        let snapshot = inputs.snapshots.borrow_and_update().clone();
        let mut next = publish(
            &snapshot,
            inputs.ttl,
            &inputs.board.all(),
            &peers,
            chrono::Utc::now(),
        );
        out.send_if_modified(|current| {
            if !next.records_differ(current) && next.revision == current.revision {
                return false;
            }
            next.changed_on = if next.records_differ(current) {
                Some(chrono::Utc::now())
            } else {
                current.changed_on
            };
            *current = Arc::new(std::mem::take(&mut next));
            true
        });
    }
}
