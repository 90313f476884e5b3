//! Spectra's data plane: turns each published `Snapshot` into edge listeners that relay to origins.
//!
//! Modules, bottom to top (none imports one above it): `wire`, `telemetry`, `clients`,
//! `geoip`, `origin`, `tls::{keys, node_ca, uploaded, certs}`, `http::{body, pool, headers,
//! page}` -> `options` -> `node` -> `runtime::context` -> `tcp::{connect, relay, idle, log}` ->
//! `tls::{relay, session}` -> `http::{exchange, upstream, server}` -> `tcp::session` ->
//! `workers` -> `listen` (with its TCP accept loop) -> `udp` -> `runtime` -> `supervisor` -> this file.

mod clients;
mod geoip;
mod http;
mod listen;
mod node;
mod options;
pub mod origin;
mod runtime;
mod supervisor;
mod tcp;
pub mod telemetry;
mod tls;
mod udp;
pub mod wire;
mod workers;

pub use geoip::GeoIp;
pub use options::Options;
pub use origin::balancer;
pub use telemetry::access_log::{AccessLog, ConnectionEvent};
pub use telemetry::analytics::Analytics;
pub use telemetry::counters::Counters;
pub use telemetry::metrics::DataPlaneMetrics;
pub use telemetry::status::StatusBoard;
pub use tls::certs::TlsOptions;
pub use tls::keys::Certified;
pub use tls::node_ca::NodeCa;
pub use wire::{proxy_header, spp};

use arc_swap::ArcSwap;
use model::Snapshot;
use node::Node;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{watch, Semaphore};
use tokio_util::sync::CancellationToken;

/// The data plane of one node.
pub struct DataPlane {
    node: Arc<Node>,
}

impl DataPlane {
    pub fn new(
        options: Options,
        access_log: Option<AccessLog>,
        analytics: Option<Arc<Analytics>>,
    ) -> std::io::Result<DataPlane> {
        let connections = Arc::new(Semaphore::new(options.max_connections));
        let udp_flows = Arc::new(Semaphore::new(options.udp_max_flows));
        let resolver = origin::dns::resolver(options.resolver);
        let clients = Arc::new(clients::PerClient::new(options.max_connections_per_client));
        let workers = workers::Workers::start(options.workers)?;
        Ok(DataPlane {
            node: Arc::new(Node {
                options,
                status: Arc::default(),
                connections,
                clients,
                access_log,
                analytics,
                resolver,
                limit_warned_at: AtomicU64::new(0),
                udp_flows,
                counters: Arc::default(),
                firewalls: ArcSwap::default(),
                uploaded: Arc::default(),
                applied: watch::Sender::new(0),
                epoch: Instant::now(),
                workers,
            }),
        })
    }

    /// The data plane's Prometheus metrics, to register with a registry.
    pub fn metrics(&self) -> telemetry::metrics::DataPlaneMetrics {
        telemetry::metrics::DataPlaneMetrics {
            status: self.node.status.clone(),
            counters: self.node.counters.clone(),
            analytics: self.node.analytics.clone(),
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
