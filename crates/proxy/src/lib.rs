//! Spectra's data plane: turns each published `Snapshot` into edge listeners that relay to origins.

mod access_log;
mod app;
pub mod balancer;
mod connection;
mod dns;
mod listener;
pub mod proxy_header;
mod relay;
mod status;
mod supervisor;

pub use access_log::{AccessLog, ConnectionEvent};
pub use status::StatusBoard;

use model::Snapshot;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;
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
    /// `ColoCode` in the connection log.
    pub colo: String,
    /// The DNS server origin names are resolved with; `None`: the system's (resolv.conf).
    pub resolver: Option<SocketAddr>,
    /// Keep origin DNS answers at most this long, whatever the apps' `ttl`.
    pub origin_dns_max_ttl: Option<Duration>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            connect_timeout: Duration::from_secs(10),
            drain_timeout: Duration::from_secs(30),
            max_connections: 65_536,
            colo: "LOCAL".into(),
            resolver: None,
            origin_dns_max_ttl: None,
        }
    }
}

/// What every app runtime of the node shares.
pub(crate) struct Node {
    options: Options,
    status: Arc<StatusBoard>,
    connections: Arc<Semaphore>,
    access_log: Option<AccessLog>,
    resolver: hickory_resolver::TokioResolver,
    /// When (unix seconds) the connection-limit warning was last logged.
    limit_warned_at: AtomicU64,
}

/// The data plane of one node.
pub struct DataPlane {
    node: Arc<Node>,
}

impl DataPlane {
    /// Fails only when no DNS resolver can be set up (no `--resolver` and no usable resolv.conf).
    pub fn new(
        options: Options,
        access_log: Option<AccessLog>,
    ) -> Result<DataPlane, hickory_resolver::ResolveError> {
        let connections = Arc::new(Semaphore::new(options.max_connections));
        let resolver = dns::resolver(options.resolver)?;
        Ok(DataPlane {
            node: Arc::new(Node {
                options,
                status: Arc::default(),
                connections,
                access_log,
                resolver,
                limit_warned_at: AtomicU64::new(0),
            }),
        })
    }

    /// Where listener states are reported, for `GET .../apps/{id}/status`.
    pub fn status(&self) -> Arc<StatusBoard> {
        self.node.status.clone()
    }

    /// Serves every snapshot published on `snapshots` until `shutdown`; then stops accepting,
    /// lets open connections finish for the drain timeout, closes the rest and returns.
    pub async fn run(self, snapshots: watch::Receiver<Arc<Snapshot>>, shutdown: CancellationToken) {
        supervisor::run(self.node, snapshots, shutdown).await
    }
}
