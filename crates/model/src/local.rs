//! A fleet node's own edge addresses. A dynamic app got its addresses from the pools of the
//! node whose API created it; every other node gives it addresses from its own pools, as
//! `assign_edge_addresses` would for a new app there (hostnames share, ports never clash), and
//! keeps them (the store holds each node's assignments, so they survive restarts).

use crate::{assign_edge_addresses, App, Connectivity, EdgeIndex, EdgeIps, Policy, Snapshot};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use crate::edge::POOL_SCAN_LIMIT;

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

/// The addresses `assign_edge_addresses` gives in the common cases: the hostname's own, the
/// app's earlier one, or a pool address nobody holds; `None` for the others.
fn place(
    index: &EdgeIndex,
    app: &App,
    previous: Option<&[IpAddr]>,
    policy: &Policy,
) -> Option<Vec<IpAddr>> {
    let EdgeIps::Dynamic { connectivity } = &app.config.edge_ips else {
        return None;
    };
    let pools = match connectivity {
        Connectivity::Ipv4 => vec![policy.ipv4_pool],
        Connectivity::Ipv6 => vec![policy.ipv6_pool],
        Connectivity::All => vec![policy.ipv4_pool, policy.ipv6_pool],
    };
    let host = app.config.dns.name.to_ascii_lowercase();
    let (transport, ports) = (app.config.protocol.transport, app.config.protocol.ports);
    let mut out = Vec::new();
    for pool in pools {
        let ip = index
            .address_of_host(&host, pool.addr().is_ipv4(), None)
            .or_else(|| {
                previous?
                    .iter()
                    .copied()
                    .find(|ip| pool.contains(ip) && index.is_free_for(*ip, &host))
            })
            .or_else(|| index.first_free(pool, POOL_SCAN_LIMIT, None))?;
        if index.conflict(ip, transport, ports, None).is_some() {
            return None;
        }
        out.push(ip);
    }
    Some(out)
}

/// Gives the apps `ids` of `snapshot` (new or changed ones; gone ones too) this node's
/// addresses where they have another node's, updating `kept`; returns what to store. An app
/// that cannot get an address here (a full pool) listens nowhere on this node. `index` holds
/// `snapshot`'s apps as they are before the call, and after it as they are localized: kept
/// from one call to the next, placing an app costs a few lookups, not a walk over every app.
pub fn localize(
    snapshot: &mut Snapshot,
    ids: &[String],
    kept: &mut LocalAddresses,
    policy: &Policy,
    index: &mut EdgeIndex,
) -> Vec<LocalChange> {
    let mut changes = Vec::new();
    let mut todo = Vec::new();
    for id in ids {
        match snapshot.apps.get(id) {
            Some(app) if foreign(app, policy) => todo.push(id),
            _ => forget(id, kept, &mut changes),
        }
    }
    // Apps still carrying another node's addresses must not lend them to their hostname.
    for id in &todo {
        index.remove(id);
    }
    for id in todo {
        let app = snapshot.apps[id].clone();
        let previous = kept.get(id).cloned();
        let addresses = place(index, &app, previous.as_deref(), policy)
            .or_else(|| {
                // The uncommon cases (a full pool, ports that clash): the general rule.
                let previous = previous.map(|ips| App {
                    edge_addresses: ips,
                    ..(*app).clone()
                });
                assign_edge_addresses(&app.config, previous.as_ref(), index, policy).ok()
            })
            .unwrap_or_default();
        if addresses.is_empty() {
            forget(id, kept, &mut changes);
        } else if kept.get(id) != Some(&addresses) {
            kept.insert(id.clone(), addresses.clone());
            changes.push((id.clone(), Some(addresses.clone())));
        }
        let local = Arc::new(App {
            edge_addresses: addresses,
            ..(*app).clone()
        });
        index.add(&local);
        snapshot.apps.insert(id.clone(), local);
    }
    changes
}
