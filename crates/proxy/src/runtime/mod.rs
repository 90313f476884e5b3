//! One app's runtime: its settings (swapped whole on a retune; open connections keep theirs),
//! its listeners (added and removed one socket at a time), and its open connections. The only
//! module that knows every kind of listener.

pub(crate) mod context;

use crate::listen::{self, Listener};
use crate::node::Node;
use crate::origin::balancer::{Balancer, Target};
use crate::origin::dns;
use crate::tls::certs::AppTls;
use crate::udp;
use arc_swap::ArcSwap;
use context::{AppShared, Settings};
use model::{App, Origin, Transport};
use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Span;

/// The settings of `app`: its origins (for `origin_dns`, with the task that resolves them)
/// and its TLS.
fn settings(app: Arc<App>, node: &Node, span: &Span) -> Settings {
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
                http_pool: Arc::default(),
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
                http_pool: Arc::default(),
            }
        }
    }
}

/// The app's TLS, for a TCP app with `tls` set.
fn tls(app: &App, node: &Node) -> Option<Arc<AppTls>> {
    if app.config.protocol.transport != Transport::Tcp {
        return None;
    }
    AppTls::new(app, &node.options.tls, &node.uploaded).map(Arc::new)
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
                analytics_ref: Arc::new(crate::telemetry::analytics::AppRef {
                    zone_id: app.zone_id.clone(),
                    app_id: app.id.clone(),
                    udp: app.config.protocol.transport == Transport::Udp,
                }),
                settings: ArcSwap::from_pointee(settings(app.clone(), &node, &span)),
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
                http_pool: old.http_pool.clone(),
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
            settings(app.clone(), &self.shared.node, &self.shared.span)
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
                    Transport::Tcp => listen::tcp::start(*addr, self.shared.clone()),
                    Transport::Udp => udp::listener::start(*addr, self.shared.clone()),
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
