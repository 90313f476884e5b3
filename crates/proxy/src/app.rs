//! One app's runtime: its settings (swapped whole on a retune; open connections keep theirs),
//! its listeners (added and removed one socket at a time), and its open connections.

use crate::balancer::{Balancer, Target};
use crate::listener::{self, Listener};
use crate::tls::AppTls;
use crate::{dns, udp, Node};
use arc_swap::ArcSwap;
use model::{App, Origin, PortRange, Transport};
use std::collections::{BTreeSet, HashMap};
use std::future::Future;
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

    fn new(app: Arc<App>, node: &Node, span: &Span) -> Settings {
        match &app.config.origin {
            Origin::Direct(uris) => {
                let targets = uris
                    .iter()
                    .map(|u| Target::plain(SocketAddr::new(u.ip, u.ports.start)));
                Settings {
                    origins: Arc::new(Mutex::new(Balancer::new(targets))),
                    tls: tls(&app, node),
                    app,
                    resolved: None,
                }
            }
            Origin::Dns(dns) => {
                let origins = Arc::new(Mutex::new(Balancer::default()));
                let (ready, resolved) = watch::channel(false);
                dns::refresh(
                    node.resolver.clone(),
                    dns.clone(),
                    app.config.origin_port.map(|p| p.ports().start),
                    node.options.origin_dns_max_ttl,
                    Arc::downgrade(&origins),
                    ready,
                    span.clone(),
                );
                Settings {
                    origins,
                    tls: tls(&app, node),
                    app,
                    resolved: Some(resolved),
                }
            }
        }
    }
}

/// The app's TLS, for a TCP app with `tls` set.
fn tls(app: &App, node: &Node) -> Option<Arc<AppTls>> {
    if app.config.protocol.transport != Transport::Tcp {
        return None;
    }
    AppTls::new(app, &node.options.tls).map(Arc::new)
}

/// The parts of an app runtime its listeners and connections share.
pub(crate) struct AppShared {
    pub id: String,
    pub settings: ArcSwap<Settings>,
    pub connections: TaskTracker,
    /// Cancelled when the drain timeout of a removed app runs out: closes what is still open.
    pub kill: CancellationToken,
    pub node: Arc<Node>,
    pub span: Span,
}

pub(crate) struct AppRuntime {
    shared: Arc<AppShared>,
    listeners: HashMap<SocketAddr, Listener>,
    /// The transport of the listeners.
    transport: Transport,
}

/// Every edge socket an app listens on: each edge address with each port of its range.
fn listen_addresses(app: &App) -> BTreeSet<SocketAddr> {
    app.edge_addresses
        .iter()
        .flat_map(|ip| {
            app.config
                .protocol
                .ports
                .ports()
                .map(|p| SocketAddr::new(*ip, p))
        })
        .collect()
}

impl AppRuntime {
    pub fn start(app: Arc<App>, node: Arc<Node>) -> AppRuntime {
        let span = tracing::info_span!("app", app = %app.id, hostname = %app.config.dns.name);
        let mut runtime = AppRuntime {
            shared: Arc::new(AppShared {
                id: app.id.clone(),
                settings: ArcSwap::from_pointee(Settings::new(app.clone(), &node, &span)),
                connections: TaskTracker::new(),
                kill: CancellationToken::new(),
                node,
                span,
            }),
            listeners: HashMap::new(),
            transport: app.config.protocol.transport,
        };
        runtime.rebind(&app);
        tracing::info!(parent: &runtime.shared.span, listeners = runtime.listeners.len(), "app started");
        runtime
    }

    /// New settings for new connections; listeners follow the new addresses, the new ones
    /// bound before the old ones are released.
    pub fn update(&mut self, app: Arc<App>) {
        let old = self.shared.settings.load();
        let same_origins = old.app.config.origin == app.config.origin
            && old.app.config.origin_port == app.config.origin_port
            && old.app.config.protocol.ports == app.config.protocol.ports;
        let settings = if same_origins {
            // Origins unchanged: keep their health, load and DNS answer (and its refresh task).
            Settings {
                app: app.clone(),
                origins: old.origins.clone(),
                resolved: old.resolved.clone(),
                // Same hostname and mode: keep the certificate rather than issue a new one.
                tls: if old.app.config.tls == app.config.tls
                    && old.app.config.dns.name == app.config.dns.name
                {
                    old.tls.clone()
                } else {
                    tls(&app, &self.shared.node)
                },
            }
        } else {
            Settings::new(app.clone(), &self.shared.node, &self.shared.span)
        };
        drop(old);
        self.shared.settings.store(Arc::new(settings));
        self.rebind(&app);
        tracing::info!(parent: &self.shared.span, listeners = self.listeners.len(), "app updated");
    }

    fn rebind(&mut self, app: &App) {
        let transport = app.config.protocol.transport;
        if transport != self.transport {
            // tcp/N became udp/N: every socket is a new one.
            for (addr, l) in self.listeners.drain() {
                l.stop();
                self.shared
                    .node
                    .status
                    .remove_listener(&self.shared.id, addr, self.transport);
            }
            self.transport = transport;
        }
        let wanted = listen_addresses(app);
        for addr in &wanted {
            if !self.listeners.contains_key(addr) {
                let l = match transport {
                    Transport::Tcp => listener::start(*addr, self.shared.clone()),
                    Transport::Udp => udp::start(*addr, self.shared.clone()),
                };
                self.listeners.insert(*addr, l);
            }
        }
        let gone: Vec<SocketAddr> = self
            .listeners
            .keys()
            .filter(|a| !wanted.contains(a))
            .copied()
            .collect();
        for addr in gone {
            if let Some(l) = self.listeners.remove(&addr) {
                l.stop();
            }
            self.shared
                .node
                .status
                .remove_listener(&self.shared.id, addr, transport);
        }
    }

    /// Stops accepting at once, then gives open connections the drain timeout to finish
    /// before closing them. The returned future completes when the last one is gone.
    pub fn drain(self) -> impl Future<Output = ()> + Send + 'static {
        for (_, l) in self.listeners {
            l.stop();
        }
        let shared = self.shared;
        shared.node.status.remove_app(&shared.id);
        shared.connections.close();
        async move {
            let open = shared.connections.len();
            if open > 0 {
                tracing::info!(parent: &shared.span, open, "draining");
            }
            let drained =
                tokio::time::timeout(shared.node.options.drain_timeout, shared.connections.wait())
                    .await;
            if drained.is_err() {
                tracing::info!(parent: &shared.span, open = shared.connections.len(), "drain timeout: closing");
                shared.kill.cancel();
                shared.connections.wait().await;
            }
            tracing::info!(parent: &shared.span, "app stopped");
        }
    }
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
