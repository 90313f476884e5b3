//! Spectra's data plane: turns each published `Snapshot` into edge listeners that relay to origins.

mod access_log;
mod app;
pub mod balancer;
mod batch;
mod clients;
mod connection;
mod dns;
mod flows;
mod geoip;
mod idle;
mod listener;
mod node_ca;
pub mod proxy_header;
mod relay;
pub mod spp;
mod status;
mod supervisor;
mod tls;
mod tls_connection;
mod udp;
mod udp_flow;

pub use access_log::{AccessLog, ConnectionEvent};
pub use geoip::GeoIp;
pub use node_ca::NodeCa;
pub use status::StatusBoard;
pub use tls::{Certified, TlsOptions};

use arc_swap::ArcSwap;
use model::{App, Firewall, Snapshot};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{watch, Semaphore};
use tokio_util::sync::CancellationToken;

/// Data-plane settings, from `serve`'s flags.
#[derive(Debug, Clone)]
pub struct Options {
    /// The budget for reaching an origin, failover included.
    pub connect_timeout: Duration,
    /// How long a removed app's (or a stopping node's) open connections may go on.
    pub drain_timeout: Duration,
    /// Open connections the whole node allows; beyond it new ones are closed at once.
    pub max_connections: usize,
    /// Open connections one client (an IPv4 address, an IPv6 /64) may hold.
    pub max_connections_per_client: usize,
    /// A TCP connection with no byte either way for this long is closed.
    pub tcp_idle_timeout: Duration,
    /// A client's TLS handshake must finish within this.
    pub tls_handshake_timeout: Duration,
    /// This node's colo code: `ColoCode` in the connection log.
    pub colo: String,
    /// The DNS server origin names are resolved with; `None`: the system's (resolv.conf).
    pub resolver: Option<SocketAddr>,
    /// Keep origin DNS answers at most this long, whatever the apps' `ttl`.
    pub origin_dns_max_ttl: Option<Duration>,
    /// A UDP flow with no datagram either way for this long ends.
    pub udp_idle_timeout: Duration,
    /// UDP flows the whole node allows; datagrams of new flows beyond it are dropped.
    pub udp_max_flows: usize,
    /// Certificates and trust for apps with `tls`.
    pub tls: Arc<TlsOptions>,
    /// Where clients are, for `country` and `asn` access rules; without it they match no one.
    pub geoip: Option<Arc<GeoIp>>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            connect_timeout: Duration::from_secs(10),
            drain_timeout: Duration::from_secs(30),
            max_connections: 65_536,
            max_connections_per_client: 65_536 / 16,
            tcp_idle_timeout: Duration::from_secs(3600),
            tls_handshake_timeout: Duration::from_secs(10),
            colo: "LOC".into(),
            resolver: None,
            origin_dns_max_ttl: None,
            udp_idle_timeout: Duration::from_secs(60),
            udp_max_flows: 65_536,
            tls: Arc::default(),
            geoip: None,
        }
    }
}

/// What every app runtime of the node shares.
pub(crate) struct Node {
    options: Options,
    status: Arc<StatusBoard>,
    connections: Arc<Semaphore>,
    /// Open connections per client, within `max_connections_per_client`.
    clients: Arc<clients::PerClient>,
    access_log: Option<AccessLog>,
    resolver: hickory_resolver::TokioResolver,
    /// When (unix seconds) a limit warning was last logged.
    limit_warned_at: AtomicU64,
    udp_flows: Arc<Semaphore>,
    counters: Arc<Counters>,
    /// The zero of `now_ms`.
    epoch: Instant,
    /// Each zone's IP Access Rules, for apps with `ip_firewall`.
    firewalls: ArcSwap<HashMap<String, Arc<Firewall>>>,
    /// The revision of the last snapshot the supervisor applied.
    applied: watch::Sender<u64>,
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

/// What the data plane dropped.
#[derive(Debug, Default)]
pub struct Counters {
    /// Datagrams of new UDP flows dropped because the flow limit was reached.
    pub udp_flows_refused: AtomicU64,
    /// Origin replies dropped for a missing or wrong Simple Proxy Protocol header.
    pub spp_malformed: AtomicU64,
    /// TCP connections and UDP datagrams refused by a zone's IP Access Rules.
    pub clients_filtered: AtomicU64,
    /// TCP connections closed at once because their client held its share of the node.
    pub client_limit_refused: AtomicU64,
    /// TCP connections closed by `tcp_idle_timeout` or `tls_handshake_timeout`.
    pub timed_out: AtomicU64,
}

/// The data plane of one node.
pub struct DataPlane {
    node: Arc<Node>,
}

impl DataPlane {
    pub fn new(options: Options, access_log: Option<AccessLog>) -> DataPlane {
        let connections = Arc::new(Semaphore::new(options.max_connections));
        let udp_flows = Arc::new(Semaphore::new(options.udp_max_flows));
        let resolver = dns::resolver(options.resolver);
        let clients = Arc::new(clients::PerClient::new(options.max_connections_per_client));
        DataPlane {
            node: Arc::new(Node {
                options,
                status: Arc::default(),
                connections,
                clients,
                access_log,
                resolver,
                limit_warned_at: AtomicU64::new(0),
                udp_flows,
                counters: Arc::default(),
                firewalls: ArcSwap::default(),
                applied: watch::Sender::new(0),
                epoch: Instant::now(),
            }),
        }
    }

    /// What the data plane has dropped, counted while it runs.
    pub fn counters(&self) -> Arc<Counters> {
        self.node.counters.clone()
    }

    /// The revision of the last snapshot applied: every app of it started, changed or
    /// stopped, and its listeners bound (or their errors reported).
    pub fn applied(&self) -> watch::Receiver<u64> {
        self.node.applied.subscribe()
    }

    /// Where listener states are reported, for `GET .../apps/{id}/status`.
    pub fn status(&self) -> Arc<StatusBoard> {
        self.node.status.clone()
    }

    /// Serves every snapshot published on `snapshots` until `shutdown`; then stops accepting,
    /// lets open connections finish for the drain timeout, closes the rest and returns.
    pub async fn run(self, snapshots: watch::Receiver<Arc<Snapshot>>, shutdown: CancellationToken) {
        if let Some(geoip) = &self.node.options.geoip {
            tokio::spawn(geoip::watch(geoip.clone(), shutdown.clone()));
        }
        supervisor::run(self.node, snapshots, shutdown).await
    }
}
