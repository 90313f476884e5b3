//! The TCP edge listener: its socket, and the accept loop, which admits connections within the
//! node's limit and the client's share and hands each the app's current settings.

use crate::runtime::context::{AppShared, Settings};
use crate::tcp::connect::tune;
use crate::tcp::session;
use crate::telemetry::outcome::limit;
use model::Transport;
use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::Listener;

const LISTEN_BACKLOG: i32 = 4096;

/// The listening socket; with `reuse_port`, one of several (one per edge worker).
fn bind(addr: SocketAddr, reuse_port: bool) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    socket.set_nonblocking(true)?;
    // Accepted sockets inherit these: no per-connection system calls for them.
    tune((&socket).into());
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    Ok(socket)
}

/// A TCP listener on `addr` for the app.
pub(crate) fn start(addr: SocketAddr, app: Arc<AppShared>) -> Listener {
    super::start_with(
        addr,
        Transport::Tcp,
        app,
        bind,
        move |socket, app, stop| async move {
            // Registered with the reactor of the worker that runs this.
            match TcpListener::from_std(socket.into()) {
                Ok(listener) => accept_loop(addr, listener, &app, &stop).await,
                Err(error) => tracing::error!(%error, "cannot register the edge listener"),
            }
        },
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
                    super::warn_limit(
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
                    super::warn_limit(
                        &app.node,
                        "a client reached its share of connections: closing its new ones",
                    );
                    refuse(app, &settings, peer, limit::PER_CLIENT);
                    continue;
                };
                app.connections.spawn(session::handle(
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
        crate::tcp::log::log(app, settings, peer, chrono::Utc::now(), outcome);
    }
}
