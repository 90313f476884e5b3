//! What Spectra publishes in DNS: each app hostname's edge addresses whose listeners are up,
//! on this node and on every live node of the fleet. Pure: the DNS server and the RFC 2136
//! updater serve it, the API shows it.

use crate::{ListenerStatus, Node, Snapshot, HEARTBEAT_EVERY, STALE_AFTER};
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::Duration;

/// A node silent for this long leaves the answers: one heartbeat sooner than it goes stale, so
/// that with a one-second refresh it is gone within `STALE_AFTER` of its last heartbeat.
pub const PUBLISHED_WHILE_HEARD_WITHIN: Duration =
    Duration::from_secs(STALE_AFTER.as_secs() - HEARTBEAT_EVERY.as_secs());

/// One zone's published hostnames.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ZonePublication {
    /// The zone's name, lower-case.
    pub name: String,
    /// Each hostname (lower-case) with its addresses, sorted; a hostname whose listeners are all
    /// down is present with none (it exists, it has no address to give).
    pub hosts: BTreeMap<String, Vec<IpAddr>>,
}

/// How updates to another DNS server (`--dns-update`) are going.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DnsUpdateState {
    /// The server updated; `None` when updates are off.
    pub server: Option<std::net::SocketAddr>,
    /// The last failure, until an update succeeds.
    pub error: Option<String>,
}

/// Everything published at one configuration revision and health reading.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Publication {
    pub revision: u64,
    /// The TTL of every record (`--dns-ttl`).
    pub ttl: u32,
    /// When the records last changed (set by whoever publishes it).
    pub changed_on: Option<DateTime<Utc>>,
    /// By zone id.
    pub zones: BTreeMap<String, ZonePublication>,
    /// Each app's published addresses, by app id.
    pub apps: BTreeMap<String, Vec<IpAddr>>,
}

/// The addresses of `listeners` that are wholly up: every listener on the address is bound.
fn healthy<'a>(listeners: impl Iterator<Item = (IpAddr, bool)> + 'a) -> BTreeSet<IpAddr> {
    let mut state: BTreeMap<IpAddr, bool> = BTreeMap::new();
    for (ip, up) in listeners {
        *state.entry(ip).or_insert(true) &= up;
    }
    state
        .into_iter()
        .filter(|(_, up)| *up)
        .map(|(ip, _)| ip)
        .collect()
}

/// The publication for `snapshot`: each app's addresses are those whose listeners are up here
/// (`local`, by app id) or on a peer heard from within `PUBLISHED_WHILE_HEARD_WITHIN` of `now`.
/// `peers` are the other nodes of the fleet (this node's own heartbeat is not among them).
pub fn publish(
    snapshot: &Snapshot,
    ttl: u32,
    local: &BTreeMap<String, Vec<ListenerStatus>>,
    peers: &[Node],
    now: DateTime<Utc>,
) -> Publication {
    let live: Vec<&Node> = peers
        .iter()
        .filter(|node| {
            now.signed_duration_since(node.last_seen)
                .to_std()
                .map_or(true, |quiet| quiet <= PUBLISHED_WHILE_HEARD_WITHIN)
        })
        .collect();
    let mut out = Publication {
        revision: snapshot.revision,
        ttl,
        ..Publication::default()
    };
    for (zone_id, zone) in &snapshot.zones {
        out.zones.insert(
            zone_id.clone(),
            ZonePublication {
                name: zone.name.to_ascii_lowercase(),
                hosts: BTreeMap::new(),
            },
        );
    }
    for (id, app) in &snapshot.apps {
        let here = local.get(id).into_iter().flatten();
        let mut addresses = healthy(here.map(|l| (l.address.ip(), l.error.is_none())));
        for node in &live {
            let there = node.listeners.get(id).into_iter().flatten();
            addresses.extend(healthy(there.map(|l| (l.address.ip(), l.error.is_none()))));
        }
        let addresses: Vec<IpAddr> = addresses.into_iter().collect();
        if let Some(zone) = out.zones.get_mut(&app.zone_id) {
            let host = zone
                .hosts
                .entry(app.config.dns.name.to_ascii_lowercase())
                .or_default();
            host.extend(&addresses);
            host.sort();
            host.dedup();
        }
        out.apps.insert(id.clone(), addresses);
    }
    out
}

impl Publication {
    /// Whether the records differ from `other`'s (the revision and the time aside).
    pub fn records_differ(&self, other: &Publication) -> bool {
        self.ttl != other.ttl || self.zones != other.zones || self.apps != other.apps
    }
}
