//! What every app runtime of the node shares: options, limits, the status board, the resolver,
//! the connection log, counters and the zones' access rules.

use crate::clients;
use crate::options::Options;
use crate::telemetry::access_log::AccessLog;
use crate::telemetry::analytics::Analytics;
use crate::telemetry::counters::Counters;
use crate::telemetry::status::StatusBoard;
use crate::tls::uploaded::Uploaded;
use crate::workers::Workers;
use arc_swap::ArcSwap;
use model::{App, Firewall};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{watch, Semaphore};

/// What every app runtime of the node shares.
pub(crate) struct Node {
    pub(crate) options: Options,
    pub(crate) status: Arc<StatusBoard>,
    pub(crate) connections: Arc<Semaphore>,
    /// Open connections per client, within `max_connections_per_client`.
    pub(crate) clients: Arc<clients::PerClient>,
    pub(crate) access_log: Option<AccessLog>,
    /// Analytics events, unless they are off.
    pub(crate) analytics: Option<Arc<Analytics>>,
    pub(crate) resolver: hickory_resolver::TokioResolver,
    /// When (unix seconds) a limit warning was last logged.
    pub(crate) limit_warned_at: AtomicU64,
    pub(crate) udp_flows: Arc<Semaphore>,
    pub(crate) counters: Arc<Counters>,
    /// The zero of `now_ms`.
    pub(crate) epoch: Instant,
    /// Each zone's IP Access Rules, for apps with `ip_firewall`.
    pub(crate) firewalls: ArcSwap<HashMap<String, Arc<Firewall>>>,
    /// The zones' uploaded certificates, for every TLS app's handshakes.
    pub(crate) uploaded: Arc<ArcSwap<Uploaded>>,
    /// The revision of the last snapshot the supervisor applied.
    pub(crate) applied: watch::Sender<u64>,
    /// The edge's worker threads (none: the caller's runtime).
    pub(crate) workers: Workers,
}

impl Node {
    /// Whether `ip` may open a connection or flow to `app` (always, without `ip_firewall`).
    pub(crate) fn admits(&self, app: &App, ip: IpAddr) -> bool {
        if !app.config.ip_firewall {
            return true;
        }
        let firewalls = self.firewalls.load();
        let Some(firewall) = firewalls.get(&app.zone_id) else {
            return true;
        };
        match &self.options.geoip {
            // Only a zone with country or AS rules pays for the lookup.
            Some(geoip) if firewall.by_location() => firewall.admits_at(ip, &geoip.locate(ip)),
            _ => firewall.admits(ip),
        }
    }

    /// Milliseconds since the node started: the UDP flow tables' clock.
    pub(crate) fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }
}
