//! Where the API places apps: the configuration as this node serves it (the published snapshot,
//! with this node's own addresses for other nodes' apps), once it holds everything the store has
//! committed, and the edge index kept current with it change by change, so placing an app costs
//! the same with ten apps or ten thousand.

use crate::{ApiError, ApiState};
use axum::http::StatusCode;
use model::{assign_edge_addresses, App, AppConfig, EdgeIndex, Snapshot};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// How long a write waits for the node to serve what the store committed before it.
const CATCH_UP: Duration = Duration::from_secs(10);

/// The snapshot the index was last brought to, and the index.
#[derive(Default)]
pub(crate) struct Placement {
    snapshot: Arc<Snapshot>,
    index: EdgeIndex,
}

/// Where the served configuration comes from: the node's published snapshots, or (an API
/// without a data plane) the store itself.
#[derive(Clone, Default)]
pub(crate) struct Served {
    snapshots: Option<watch::Receiver<Arc<Snapshot>>>,
    placement: Arc<Mutex<Placement>>,
}

impl Served {
    pub(crate) fn new(snapshots: watch::Receiver<Arc<Snapshot>>) -> Served {
        Served {
            snapshots: Some(snapshots),
            placement: Arc::default(),
        }
    }
}

/// Where the app will listen, checked against every other app of the node. Called with the
/// app-write lock held, so no other write can take the same sockets before this one commits.
pub(crate) async fn edge_addresses(
    state: &ApiState,
    config: &AppConfig,
    previous: Option<&App>,
) -> Result<Vec<IpAddr>, ApiError> {
    let snapshot = served(state).await?;
    let mut placement = state
        .served
        .placement
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let placement = &mut *placement;
    placement.index.update(&placement.snapshot, &snapshot);
    placement.snapshot = snapshot;
    Ok(assign_edge_addresses(
        config,
        previous,
        &placement.index,
        &state.policy,
    )?)
}

/// The served configuration, at least as new as the store's last commit (this API's own, the
/// CLI's, another node's).
async fn served(state: &ApiState) -> Result<Arc<Snapshot>, ApiError> {
    let Some(snapshots) = &state.served.snapshots else {
        return Ok(Arc::new(state.store(|s| s.snapshot()).await?));
    };
    let committed = state.store(|s| s.revision()).await?;
    let mut snapshots = snapshots.clone();
    let caught_up = tokio::time::timeout(CATCH_UP, async {
        loop {
            let current = snapshots.borrow_and_update().clone();
            if current.revision >= committed {
                return Some(current);
            }
            // Wake the follower now rather than at its next poll.
            state.committed.notify_one();
            snapshots.changed().await.ok()?;
        }
    })
    .await;
    match caught_up {
        Ok(Some(snapshot)) => Ok(snapshot),
        _ => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            10000,
            format!(
                "the node does not serve the store's revision {committed} yet; try again shortly"
            ),
        )),
    }
}
