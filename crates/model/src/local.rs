//! A fleet node's own edge addresses. A dynamic app got its addresses from the pools of the
//! node whose API created it; every other node gives it addresses from its own pools, as
//! `assign_edge_addresses` would for a new app there (hostnames share, ports never clash), and
//! keeps them (the store holds each node's assignments, so they survive restarts).

use crate::{assign_edge_addresses, App, EdgeIps, Policy, Snapshot};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;

/// This node's addresses for apps whose stored addresses are another node's, by app id.
pub type LocalAddresses = BTreeMap<String, Vec<IpAddr>>;

/// An assignment to store (`Some`) or forget (`None`).
pub type LocalChange = (String, Option<Vec<IpAddr>>);

/// Whether `app` listens on another node's dynamic addresses.
fn foreign(app: &App, policy: &Policy) -> bool {
    matches!(app.config.edge_ips, EdgeIps::Dynamic { .. })
        && !app
            .edge_addresses
            .iter()
            .all(|ip| policy.ipv4_pool.contains(ip) || policy.ipv6_pool.contains(ip))
}

fn forget(id: &str, kept: &mut LocalAddresses, changes: &mut Vec<LocalChange>) {
    if kept.remove(id).is_some() {
        changes.push((id.to_owned(), None));
    }
}

/// Gives the apps `ids` of `snapshot` (new or changed ones; gone ones too) this node's
/// addresses where they have another node's, updating `kept`; returns what to store. An app
/// that cannot get an address here (a full pool) listens nowhere on this node.
pub fn localize(
    snapshot: &mut Snapshot,
    ids: &[String],
    kept: &mut LocalAddresses,
    policy: &Policy,
) -> Vec<LocalChange> {
    let mut changes = Vec::new();
    // Apps still carrying another node's addresses must not lend them to their hostname.
    let mut pending: BTreeSet<&String> = ids
        .iter()
        .filter(|id| snapshot.apps.get(*id).is_some_and(|a| foreign(a, policy)))
        .collect();
    for id in ids {
        let Some(app) = snapshot.apps.get(id).cloned() else {
            forget(id, kept, &mut changes);
            continue;
        };
        if !foreign(&app, policy) {
            forget(id, kept, &mut changes);
            continue;
        }
        pending.remove(id);
        let previous = kept.get(id).map(|ips| App {
            edge_addresses: ips.clone(),
            ..(*app).clone()
        });
        let others: Vec<&App> = snapshot
            .apps
            .values()
            .filter(|a| a.id != *id && !pending.contains(&a.id))
            .map(|a| &**a)
            .collect();
        let addresses = assign_edge_addresses(&app.config, previous.as_ref(), &others, policy)
            .unwrap_or_default();
        if addresses.is_empty() {
            forget(id, kept, &mut changes);
        } else if kept.get(id) != Some(&addresses) {
            kept.insert(id.clone(), addresses.clone());
            changes.push((id.clone(), Some(addresses.clone())));
        }
        let local = App {
            edge_addresses: addresses,
            ..(*app).clone()
        };
        snapshot.apps.insert(id.clone(), Arc::new(local));
    }
    changes
}
