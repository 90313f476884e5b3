//! What an app is for its connections: the settings each connection keeps from its accept
//! (origins and their health, TLS, the PROXY header), the edge-to-origin port mapping, and
//! what the app's listeners and connections share. No I/O.

use crate::http::pool::Pool;
use crate::node::Node;
use crate::origin::balancer::{Balancer, Target};
use crate::telemetry::analytics::AppRef;
use crate::tls::certs::AppTls;
use crate::wire::proxy_header;
use arc_swap::ArcSwap;
use model::{App, PortRange, ProxyProtocol, Transport};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Span;

/// What a connection needs from its app, fixed when it is accepted.
pub(crate) struct Settings {
    pub app: Arc<App>,
    /// The app's origins and their health, shared by the connections of these settings.
    pub origins: Arc<Mutex<Balancer>>,
    /// For `origin_dns`: true once the first resolution was tried.
    pub resolved: Option<watch::Receiver<bool>>,
    /// For `tls` other than `off`: the edge's and the origin's TLS.
    pub tls: Option<Arc<AppTls>>,
    /// For `traffic_type: http`: idle keep-alive connections to the origins.
    pub http_pool: Arc<Pool>,
}

/// The origin port for an edge port: ranges map `start + (edge_port - edge_start)`. `None`
/// for a port outside `edge` (a connection that arrived on a port an update has just removed).
pub(crate) fn origin_port(base: u16, edge: PortRange, edge_port: u16) -> Option<u16> {
    if edge.is_range() {
        let offset = edge_port.checked_sub(edge.start)?;
        if edge_port > edge.end {
            return None;
        }
        base.checked_add(offset)
    } else {
        Some(base)
    }
}

impl Settings {
    /// The app's origins and their health, locked.
    pub fn balancer(&self) -> MutexGuard<'_, Balancer> {
        // A panic elsewhere cannot leave the balancer inconsistent: use it anyway.
        self.origins.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The origins to try for a connection or flow on `edge_port`, in order, each with the
    /// address its port maps to.
    pub fn plan(&self, edge_port: u16) -> Vec<(Target, SocketAddr)> {
        let plan = self.balancer().plan(Instant::now(), &mut rand::rng());
        let edge = self.app.config.protocol.ports;
        plan.into_iter()
            .filter_map(|t| {
                origin_port(t.addr.port(), edge, edge_port)
                    .map(|p| (t, SocketAddr::new(t.addr.ip(), p)))
            })
            .collect()
    }

    /// The app's PROXY header for a TCP connection, if it sends one.
    pub fn proxy_header(&self, peer: SocketAddr, edge: SocketAddr) -> Option<Vec<u8>> {
        match self.app.config.proxy_protocol {
            ProxyProtocol::V1 => Some(proxy_header::v1(peer, edge)),
            ProxyProtocol::V2 => Some(proxy_header::v2(Transport::Tcp, peer, edge)),
            ProxyProtocol::Off | ProxyProtocol::Simple => None,
        }
    }
}

/// The parts of an app runtime its listeners and connections share.
pub(crate) struct AppShared {
    pub id: String,
    /// The app as its analytics events name it.
    pub analytics_ref: Arc<AppRef>,
    pub settings: ArcSwap<Settings>,
    pub connections: TaskTracker,
    /// Cancelled when the drain timeout of a removed app runs out: closes what is still open.
    pub kill: CancellationToken,
    pub node: Arc<Node>,
    pub span: Span,
}

#[cfg(test)]
mod tests {
    use super::origin_port;
    use model::PortRange;

    #[test]
    fn edge_ports_map_into_the_origin_range_and_others_map_nowhere() {
        let edge = PortRange {
            start: 1000,
            end: 2000,
        };
        assert_eq!(origin_port(3000, edge, 1000), Some(3000));
        assert_eq!(origin_port(3000, edge, 1005), Some(3005));
        // A connection still arriving on a port the last update removed.
        assert_eq!(origin_port(3000, edge, 999), None);
        assert_eq!(origin_port(3000, edge, 2001), None);
        assert_eq!(
            origin_port(65000, edge, 2000),
            None,
            "past the last origin port"
        );
        let single = PortRange { start: 22, end: 22 };
        assert_eq!(origin_port(2222, single, 22), Some(2222));
    }
}
