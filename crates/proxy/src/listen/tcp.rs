//! The TCP edge listener: its socket, and the accept loop, which admits connections within the
//! node's limit and the client's share and hands each the app's current settings: to this
//! thread's reactor for a plain TCP app, else to a task of its own.

use crate::runtime::context::{AppShared, Settings};
use crate::tcp::connect::tune;
use crate::tcp::reactor::{self, Admitted};
use crate::tcp::session;
use crate::telemetry::outcome::limit;
use model::Transport;
use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::net::TcpStream;
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
            let listener = mio::net::TcpListener::from_std(socket.into());
            // SAFETY: the listener owns its descriptor and `AsyncFd` owns the listener.
            match unsafe { AsyncFd::register_with_interest(listener, Interest::READABLE) } {
                Ok(listener) => accept_loop(addr, listener, &app, &stop).await,
                Err(error) => tracing::error!(%error, "cannot register the edge listener"),
            }
        },
    )
}

/// The next connection: accepted by mio (`accept4`, non-blocking), so that a plain TCP app's
/// sockets reach the reactor without being registered with tokio's on the way.
async fn accept(
    listener: &AsyncFd<mio::net::TcpListener>,
) -> io::Result<(mio::net::TcpStream, SocketAddr)> {
    loop {
        let mut ready = listener.readable().await?;
        if let Ok(accepted) = ready.try_io(|listener| listener.get_ref().accept()) {
            return accepted;
        }
    }
}

async fn accept_loop(
    addr: SocketAddr,
    listener: AsyncFd<mio::net::TcpListener>,
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
            accepted = accept(&listener) => accepted,
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
                let mut admitted = Admitted {
                    client,
                    peer,
                    edge: addr,
                    settings,
                    app: app.clone(),
                    slots: (permit, slot),
                };
                if reactor::fits(&admitted.settings)
                    && app.node.admits(&admitted.settings.app, peer.ip())
                {
                    match reactor::start(admitted) {
                        Ok(()) => continue,
                        Err(back) => admitted = *back,
                    }
                }
                // Refused by the access rules, TLS, HTTP, or waiting for `origin_dns`.
                let Admitted {
                    client,
                    settings,
                    slots,
                    ..
                } = admitted;
                match TcpStream::from_std(client.into()) {
                    Ok(client) => drop(app.connections.spawn(session::handle(
                        client,
                        peer,
                        addr,
                        settings,
                        app.clone(),
                        slots,
                    ))),
                    Err(error) => tracing::warn!(%error, "cannot register a client socket"),
                }
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
