//! Edge listeners: binding a socket (retrying while the port is taken) for TCP and UDP alike,
//! reporting each listener's state, and the node's limit warnings. The TCP accept loop is in
//! `tcp`.

pub(crate) mod tcp;

use crate::node::Node;
use crate::runtime::context::AppShared;
use model::Transport;
use socket2::Socket;
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

/// Binds `addr` now with `bind`, once per edge worker (so a rebind holds the new sockets
/// before the old ones are released), reports the outcome, retries a failed bind every
/// `BIND_RETRY` in a task, and runs `serve` on each socket, on its worker, until stopped.
/// Shared by TCP and UDP listeners.
pub(crate) fn start_with<F>(
    addr: SocketAddr,
    transport: Transport,
    app: Arc<AppShared>,
    bind: fn(SocketAddr, bool) -> io::Result<Socket>,
    serve: impl Fn(Socket, Arc<AppShared>, CancellationToken) -> F + Send + 'static,
) -> Listener
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let stop = CancellationToken::new();
    let span = tracing::info_span!(parent: &app.span, "listener", %addr, %transport);
    let bind_all = move |count: usize| -> io::Result<Vec<Socket>> {
        (0..count).map(|_| bind(addr, count > 1)).collect()
    };
    let count = app.node.workers.sockets();
    let bound = bind_all(count);
    report(&app, addr, transport, &bound);
    let listener_span = span.clone();
    let run = move |sockets: Vec<Socket>, app: Arc<AppShared>, token: CancellationToken| {
        for (i, socket) in sockets.into_iter().enumerate() {
            let task = serve(socket, app.clone(), token.clone()).instrument(listener_span.clone());
            app.node.workers.spawn(i, task);
        }
    };
    match bound {
        Ok(sockets) => run(sockets, app, stop.clone()),
        Err(_) => {
            let token = stop.clone();
            let retry = async move {
                loop {
                    tokio::select! {
                        _ = token.cancelled() => return,
                        _ = tokio::time::sleep(BIND_RETRY) => {}
                    }
                    let bound = bind_all(count);
                    if token.is_cancelled() {
                        return;
                    }
                    if let Ok(sockets) = bound {
                        report(&app, addr, transport, &io::Result::Ok(()));
                        return run(sockets, app, token);
                    }
                }
            };
            tokio::spawn(retry.instrument(span));
        }
    }
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
