//! A fleet node's own edge addresses. A dynamic app got its addresses from the pools of the
//! node whose API created it; every other node gives it addresses from its own pools, as
//! `assign_edge_addresses` would for a new app there (hostnames share, ports never clash), and
//! keeps them (the store holds each node's assignments, so they survive restarts).

use crate::{
    assign_edge_addresses, App, Connectivity, EdgeIndex, EdgeIps, Policy, PortRange, Snapshot,
    Transport,
};
use std::collections::{BTreeMap, BTreeSet, HashMap};
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

/// Where the apps already placed listen, indexed, so that placing each new one costs a few
/// lookups rather than a walk over every app (a node joining a fleet places them all at once).
#[derive(Default)]
struct Index {
    /// Each hostname's address per family (true: IPv4), from its dynamic apps.
    by_host: HashMap<(String, bool), IpAddr>,
    /// Who holds each address: a dynamic hostname, or `None` for a static app.
    owner: HashMap<IpAddr, Option<String>>,
    claims: HashMap<(IpAddr, Transport), Vec<PortRange>>,
    /// Every app indexed, for the rare case `place` leaves to `assign_edge_addresses`.
    apps: Vec<Arc<App>>,
}

impl Index {
    fn add(&mut self, app: &Arc<App>) {
        let dynamic = matches!(app.config.edge_ips, EdgeIps::Dynamic { .. });
        let host = app.config.dns.name.to_ascii_lowercase();
        let protocol = &app.config.protocol;
        for ip in &app.edge_addresses {
            self.claims
                .entry((*ip, protocol.transport))
                .or_default()
                .push(protocol.ports);
            if dynamic {
                self.by_host
                    .entry((host.clone(), ip.is_ipv4()))
                    .or_insert(*ip);
                self.owner.entry(*ip).or_insert_with(|| Some(host.clone()));
            } else {
                self.owner.insert(*ip, None);
            }
        }
        self.apps.push(app.clone());
    }

    fn clashes(&self, ip: IpAddr, transport: Transport, ports: PortRange) -> bool {
        self.claims.get(&(ip, transport)).is_some_and(|taken| {
            taken
                .iter()
                .any(|p| p.start <= ports.end && ports.start <= p.end)
        })
    }

    /// The addresses `assign_edge_addresses` gives in the common cases: the hostname's own, the
    /// app's earlier one, or a pool address no other hostname holds; `None` for the others.
    fn place(
        &self,
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
        let free = |ip: &IpAddr| {
            self.owner
                .get(ip)
                .is_none_or(|o| o.as_deref() == Some(host.as_str()))
        };
        let mut out = Vec::new();
        for pool in pools {
            let v4 = pool.addr().is_ipv4();
            let ip = self
                .by_host
                .get(&(host.clone(), v4))
                .copied()
                .or_else(|| {
                    previous?
                        .iter()
                        .copied()
                        .find(|ip| pool.contains(ip) && free(ip))
                })
                .or_else(|| {
                    pool.hosts()
                        .take(POOL_SCAN_LIMIT)
                        .find(|ip| !self.owner.contains_key(ip))
                })?;
            if self.clashes(ip, transport, ports) {
                return None;
            }
            out.push(ip);
        }
        Some(out)
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
    let mut todo = Vec::new();
    for id in ids {
        match snapshot.apps.get(id) {
            Some(app) if foreign(app, policy) => todo.push(id),
            _ => forget(id, kept, &mut changes),
        }
    }
    if todo.is_empty() {
        return changes;
    }
    // Apps still carrying another node's addresses must not lend them to their hostname.
    let pending: BTreeSet<&String> = todo.iter().copied().collect();
    let mut index = Index::default();
    for app in snapshot.apps.values().filter(|a| !pending.contains(&a.id)) {
        index.add(app);
    }
    for id in todo {
        let app = snapshot.apps[id].clone();
        let previous = kept.get(id).cloned();
        let addresses = index
            .place(&app, previous.as_deref(), policy)
            .or_else(|| {
                // The uncommon cases (a full pool, ports that clash): the general rule.
                let previous = previous.map(|ips| App {
                    edge_addresses: ips,
                    ..(*app).clone()
                });
                let others = EdgeIndex::of(index.apps.iter().map(|a| &**a));
                assign_edge_addresses(&app.config, previous.as_ref(), &others, policy).ok()
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
