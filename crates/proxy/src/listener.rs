//! Edge listeners: binding a socket (retrying while the port is taken) for TCP and UDP alike,
//! and the TCP accept loop, which admits connections within the node's limit and hands each
//! the app's current settings.

use crate::app::{AppShared, Settings};
use crate::connection::{self, limit};
use crate::Node;
use model::Transport;
use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// How often a listener whose bind failed tries again.
const BIND_RETRY: Duration = Duration::from_secs(2);
const LISTEN_BACKLOG: i32 = 4096;

pub(crate) struct Listener {
    stop: CancellationToken,
}

impl Listener {
    /// Stops accepting; the socket closes as soon as the accept loop sees it.
    pub fn stop(self) {
        self.stop.cancel();
    }
}

fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    // Accepted sockets inherit these: no per-connection system calls for them.
    connection::tune((&socket).into());
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    TcpListener::from_std(socket.into())
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

/// A TCP listener on `addr` for the app.
pub(crate) fn start(addr: SocketAddr, app: Arc<AppShared>) -> Listener {
    start_with(
        addr,
        Transport::Tcp,
        app,
        bind,
        move |listener, app, stop| async move { accept_loop(addr, listener, &app, &stop).await },
    )
}

async fn accept_loop(
    addr: SocketAddr,
    listener: TcpListener,
    app: &Arc<AppShared>,
    stop: &CancellationToken,
) {
    let mut backoff = Duration::ZERO;
    // One wait for the stop, not a new one per accepted connection.
    let stopped = stop.cancelled();
    tokio::pin!(stopped);
    loop {
        let accepted = tokio::select! {
            biased;
            _ = &mut stopped => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((client, peer)) => {
                backoff = Duration::ZERO;
                let settings = app.settings.load_full();
                let Ok(permit) = app.node.connections.clone().try_acquire_owned() else {
                    warn_limit(
                        &app.node,
                        "connection limit reached: closing new connections until others finish",
                    );
                    refuse(app, &settings, peer, limit::NODE);
                    continue;
                };
                let Some(slot) = app.node.clients.take(peer.ip()) else {
                    app.node
                        .counters
                        .client_limit_refused
                        .fetch_add(1, Ordering::Relaxed);
                    warn_limit(
                        &app.node,
                        "a client reached its share of connections: closing its new ones",
                    );
                    refuse(app, &settings, peer, limit::PER_CLIENT);
                    continue;
                };
                app.connections.spawn(connection::handle(
                    client,
                    peer,
                    addr,
                    settings,
                    app.clone(),
                    (permit, slot),
                ));
            }
            Err(error) => {
                // Out of file descriptors or memory: back off instead of spinning.
                backoff = (backoff * 2).clamp(Duration::from_millis(5), Duration::from_secs(1));
                tracing::warn!(%error, backoff_ms = backoff.as_millis() as u64, "accept failed");
                tokio::select! {
                    _ = &mut stopped => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
            }
        }
    }
}

/// Logs a connection closed at once by a limit (the socket closes when dropped).
fn refuse(app: &AppShared, settings: &Settings, peer: SocketAddr, status: u16) {
    if app.node.access_log.is_some() {
        let outcome = ("disconnect", status, None, 0, 0);
        connection::log(app, settings, peer, chrono::Utc::now(), outcome);
    }
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
