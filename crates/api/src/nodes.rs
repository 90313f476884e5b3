//! The fleet's nodes, as their heartbeats describe them (a Spectra extension):
//! `GET /client/v4/spectra/nodes`, and each live node's view of an app for its status.

use crate::auth::Caller;
use crate::envelope::{ok, ApiResult};
use crate::ApiState;
use axum::extract::State;
use chrono::{DateTime, Utc};
use model::{ListenerStatus, Node, NodeListener, Permission};
use serde_json::{json, Value};

/// Every node that ever reported, with `stale` for those not heard from lately. A global key,
/// or a token with Zone Write on every zone, may see them.
pub async fn list(State(state): State<ApiState>, caller: Caller) -> ApiResult {
    caller.require(Permission::ZoneWrite, None)?;
    let nodes = state.store(|s| s.nodes()).await?;
    let now = Utc::now();
    let nodes: Vec<Value> = nodes
        .iter()
        .map(|n| {
            let listeners: usize = n.listeners.values().map(Vec::len).sum();
            json!({
                "name": n.name,
                "colo": n.colo,
                "version": n.version,
                "edge_pools": n.edge_pools,
                "started_on": model::timestamp(n.started_on),
                "last_seen": model::timestamp(n.last_seen),
                "stale": n.is_stale(now),
                "apps": n.listeners.len(),
                "listeners": listeners,
            })
        })
        .collect();
    Ok(ok(nodes))
}

/// Each live node's edge addresses and listeners for `app_id`.
pub fn of_app(nodes: &[Node], app_id: &str, now: DateTime<Utc>) -> Vec<Value> {
    nodes
        .iter()
        .filter(|n| !n.is_stale(now))
        .map(|n| {
            let listeners: Vec<ListenerStatus> = n
                .listeners
                .get(app_id)
                .map(|l| l.iter().map(NodeListener::status).collect())
                .unwrap_or_default();
            json!({
                "name": n.name,
                "colo": n.colo,
                "edge_ips": n.edge_ips(app_id),
                "listeners": listeners,
            })
        })
        .collect()
}
