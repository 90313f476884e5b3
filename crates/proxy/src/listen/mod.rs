//! Edge listeners: binding a socket (retrying while the port is taken) for TCP and UDP alike,
//! reporting each listener's state, and the node's limit warnings. The TCP accept loop is in
//! `tcp`.

pub(crate) mod tcp;

use crate::node::Node;
use crate::runtime::context::AppShared;
use model::Transport;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// How often a listener whose bind failed tries again.
const BIND_RETRY: Duration = Duration::from_secs(2);

pub(crate) struct Listener {
    stop: CancellationToken,
}

impl Listener {
    /// Stops accepting; the socket closes as soon as the accept loop sees it.
    pub fn stop(self) {
        self.stop.cancel();
    }
}

/// Binds `addr` now with `bind` (so a rebind holds the new socket before the old one is
/// released), reports the outcome, and in a task retries a failed bind every `BIND_RETRY`
/// and then runs `serve` on the socket until stopped. Shared by TCP and UDP listeners.
pub(crate) fn start_with<S, F>(
    addr: SocketAddr,
    transport: Transport,
    app: Arc<AppShared>,
    bind: fn(SocketAddr) -> io::Result<S>,
    serve: impl FnOnce(S, Arc<AppShared>, CancellationToken) -> F + Send + 'static,
) -> Listener
where
    S: Send + 'static,
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let stop = CancellationToken::new();
    let mut bound = bind(addr);
    report(&app, addr, transport, &bound);
    let span = tracing::info_span!(parent: &app.span, "listener", %addr, %transport);
    let token = stop.clone();
    let task = async move {
        loop {
            match bound {
                Ok(socket) => return serve(socket, app, token).await,
                Err(_) => {
                    tokio::select! {
                        _ = token.cancelled() => return,
                        _ = tokio::time::sleep(BIND_RETRY) => {}
                    }
                    bound = bind(addr);
                    if !token.is_cancelled() && bound.is_ok() {
                        report(&app, addr, transport, &bound);
                    }
                }
            }
        }
    };
    tokio::spawn(task.instrument(span));
    Listener { stop }
}

fn report<S>(app: &AppShared, addr: SocketAddr, transport: Transport, bound: &io::Result<S>) {
    let error = bound.as_ref().err().map(|e| e.to_string());
    if let Some(error) = &error {
        tracing::warn!(parent: &app.span, %addr, %transport, %error, "cannot bind edge listener; retrying");
    }
    app.node.status.set(&app.id, addr, transport, error);
}

/// Logs that the node turned something away (with the drop counters so far), at most once a
/// second.
pub(crate) fn warn_limit(node: &Node, what: &'static str) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    if node.limit_warned_at.swap(now, Ordering::Relaxed) != now {
        tracing::warn!(
            max_connections = node.options.max_connections,
            max_connections_per_client = node.options.max_connections_per_client,
            client_limit_refused = node.counters.client_limit_refused.load(Ordering::Relaxed),
            udp_max_flows = node.options.udp_max_flows,
            udp_flows_refused = node.counters.udp_flows_refused.load(Ordering::Relaxed),
            spp_malformed = node.counters.spp_malformed.load(Ordering::Relaxed),
            "{what}"
        );
    }
}
