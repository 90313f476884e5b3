//! An edge UDP listener: one socket per edge address and port. Each client address is a flow
//! (see `udp_flow`) with its own socket connected to the origin it was given, until idle for
//! the timeout; replies go back from the edge address and port the client sent to.

use crate::app::AppShared;
use crate::flows::FlowTable;
use crate::listener::Listener;
use crate::relay::with_scratch;
use crate::udp_flow::{end, open, Entry, BATCH, BUF};
use crate::{proxy_header, spp};
use model::{ProxyProtocol, Transport};
use socket2::{Domain, Protocol, SockRef, Socket, Type};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

const BIND_RETRY: Duration = Duration::from_secs(2);
const SWEEP: Duration = Duration::from_millis(500);

fn bind(addr: SocketAddr) -> io::Result<UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    let _ = socket.set_recv_buffer_size(4 << 20);
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

pub(crate) fn start(addr: SocketAddr, app: Arc<AppShared>) -> Listener {
    let stop = CancellationToken::new();
    let bound = bind(addr);
    let error = bound.as_ref().err().map(|e| e.to_string());
    if let Some(error) = &error {
        tracing::warn!(parent: &app.span, %addr, %error, "cannot bind edge UDP listener; retrying");
    }
    app.node.status.set(&app.id, addr, Transport::Udp, error);
    let span = tracing::info_span!(parent: &app.span, "udp_listener", %addr);
    tokio::spawn(serve(addr, bound, app, stop.clone()).instrument(span));
    Listener::new(stop)
}

async fn serve(
    addr: SocketAddr,
    mut bound: io::Result<UdpSocket>,
    app: Arc<AppShared>,
    stop: CancellationToken,
) {
    loop {
        match bound {
            Ok(socket) => return relay(addr, Arc::new(socket), &app, &stop).await,
            Err(_) => {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(BIND_RETRY) => {}
                }
                bound = bind(addr);
                if !stop.is_cancelled() && bound.is_ok() {
                    app.node.status.set(&app.id, addr, Transport::Udp, None);
                }
            }
        }
    }
}

async fn relay(
    edge: SocketAddr,
    socket: Arc<UdpSocket>,
    app: &Arc<AppShared>,
    stop: &CancellationToken,
) {
    let node = &app.node;
    let mut flows: FlowTable<Entry> =
        FlowTable::new(node.options.udp_idle_timeout.as_millis() as u64);
    let mut sweep = tokio::time::interval(SWEEP);
    loop {
        tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            _ = sweep.tick() => {
                for (_, entry) in flows.expire(node.now_ms()) {
                    end(edge, entry);
                }
                continue;
            }
            ready = socket.readable() => if let Err(error) = ready {
                tracing::debug!(%error, "UDP listener failed");
                continue;
            },
        }
        // Datagrams pass through the thread's scratch buffer, with room in front for an SPP header.
        with_scratch(|buf| {
            for _ in 0..BATCH {
                match socket.try_recv_from(&mut buf[spp::HEADER_LEN..BUF]) {
                    Ok((n, client)) => forward(
                        &mut buf[..spp::HEADER_LEN + n],
                        client,
                        edge,
                        &socket,
                        &mut flows,
                        app,
                    ),
                    Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
                    Err(error) => {
                        tracing::debug!(%error, "UDP receive failed");
                        break;
                    }
                }
            }
        });
    }
    // Stopping: UDP has nothing to drain.
    for (_, entry) in flows.drain() {
        end(edge, entry);
    }
}

/// Sends one client datagram (after `spp::HEADER_LEN` bytes of room in `buf`) to its flow's
/// origin, opening the flow first if the client is new.
fn forward(
    buf: &mut [u8],
    client: SocketAddr,
    edge: SocketAddr,
    listener: &Arc<UdpSocket>,
    flows: &mut FlowTable<Entry>,
    app: &Arc<AppShared>,
) {
    let now = app.node.now_ms();
    if flows.get(&client, now).is_none() {
        if let Some(stale) = flows.remove(&client) {
            end(edge, stale);
        }
        let Some(entry) = open(client, edge, listener, app) else {
            return;
        };
        flows.insert(client, entry);
    }
    let Some(entry) = flows.get_mut(&client) else {
        return;
    };
    let flow = &*entry.flow;
    let payload_len = buf.len() - spp::HEADER_LEN;
    flow.touch(now);
    flow.client_bytes.fetch_add(payload_len as u64, Relaxed);
    flow.client_datagrams.fetch_add(1, Relaxed);
    let sent = match flow.settings.app.config.proxy_protocol {
        ProxyProtocol::Simple => {
            let header: &mut [u8; spp::HEADER_LEN] = (&mut buf[..spp::HEADER_LEN])
                .try_into()
                .expect("header room");
            spp::encode(client, edge, header);
            send(&flow.socket, buf)
        }
        ProxyProtocol::V2 if entry.v2_pending => {
            entry.v2_pending = false;
            let mut datagram = proxy_header::v2(Transport::Udp, client, edge);
            datagram.extend_from_slice(&buf[spp::HEADER_LEN..]);
            send(&flow.socket, &datagram)
        }
        _ => send(&flow.socket, &buf[spp::HEADER_LEN..]),
    };
    if let Err(error) = sent {
        if error.kind() == io::ErrorKind::ConnectionRefused {
            flow.refused();
        } else if error.kind() != io::ErrorKind::WouldBlock {
            tracing::debug!(%error, origin = %flow.origin(), "UDP send to origin failed");
        }
    }
}

/// Sends one datagram on a connected socket now, or not at all: a full socket buffer drops it,
/// as the network would. (Straight to the socket: tokio's `try_send` says "would block" until
/// the runtime has seen a new socket become writable, which would drop every flow's first datagram.)
fn send(socket: &UdpSocket, datagram: &[u8]) -> io::Result<usize> {
    SockRef::from(socket).send(datagram)
}
