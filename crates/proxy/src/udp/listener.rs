//! An edge UDP listener: one socket per edge address and port. Each client address is a flow
//! (see `flow`) with its own socket connected to the origin it was given, until idle for
//! the timeout; replies go back from the edge address and port the client sent to.

use super::batch::{self, with_slots, Slots};
use super::flow::{end, open, progress, Entry};
use super::flows::FlowTable;
use crate::listen::{self, Listener};
use crate::runtime::context::AppShared;
use crate::wire::{proxy_header, spp};
use model::{ProxyProtocol, Transport};
use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

const SWEEP: Duration = Duration::from_millis(500);
/// Batches one listener may take in one go before its task yields.
const ROUNDS: usize = 4;

/// The edge socket; with `reuse_port`, one of several (one per edge worker: the kernel keeps
/// each client on one of them, so a flow lives in one worker's table).
fn bind(addr: SocketAddr, reuse_port: bool) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    socket.set_nonblocking(true)?;
    let _ = socket.set_recv_buffer_size(4 << 20);
    socket.bind(&addr.into())?;
    Ok(socket)
}

/// A UDP listener on `addr` for the app.
pub(crate) fn start(addr: SocketAddr, app: Arc<AppShared>) -> Listener {
    listen::start_with(
        addr,
        Transport::Udp,
        app,
        bind,
        move |socket, app, stop| async move {
            // Registered with the reactor of the worker that runs this.
            match UdpSocket::from_std(socket.into()) {
                Ok(socket) => relay(addr, Arc::new(socket), &app, &stop).await,
                Err(error) => tracing::error!(%error, "cannot register the edge socket"),
            }
        },
    )
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
    let stopped = stop.cancelled();
    tokio::pin!(stopped);
    loop {
        tokio::select! {
            biased;
            _ = &mut stopped => break,
            _ = sweep.tick() => {
                let now = node.now_ms();
                for (_, entry) in flows.expire(now) {
                    end(edge, entry);
                }
                if node.analytics.is_some() {
                    for entry in flows.values() {
                        progress(entry, now);
                    }
                }
                continue;
            }
            ready = socket.readable() => if let Err(error) = ready {
                tracing::debug!(%error, "UDP listener failed");
                continue;
            },
        }
        // Datagrams arrive in batches in the thread's slots, with room in front for an SPP header.
        with_slots(|slots| {
            for _ in 0..ROUNDS {
                let n = match socket.try_io(Interest::READABLE, || batch::recv(&*socket, slots)) {
                    Ok(n) => n,
                    Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
                    Err(error) => {
                        tracing::debug!(%error, "UDP receive failed");
                        break;
                    }
                };
                forward(slots, n, edge, &socket, &mut flows, app);
                if n < batch::SLOTS {
                    break;
                }
            }
        });
    }
    // Stopping: UDP has nothing to drain.
    for (_, entry) in flows.drain() {
        end(edge, entry);
    }
}

/// Sends the `n` received datagrams to their flows' origins, opening flows for new clients;
/// consecutive datagrams of one client go out in one system call.
fn forward(
    slots: &mut Slots,
    n: usize,
    edge: SocketAddr,
    listener: &Arc<UdpSocket>,
    flows: &mut FlowTable<Entry>,
    app: &Arc<AppShared>,
) {
    let now = app.node.now_ms();
    let mut first = 0;
    while first < n {
        let client = slots.from[first];
        let mut last = first + 1;
        while last < n && slots.from[last] == client {
            last += 1;
        }
        if let Some(client) = client {
            forward_run(slots, first..last, client, edge, listener, flows, app, now);
        }
        first = last;
    }
}

/// Sends the datagrams in slots `run`, all from `client`.
#[allow(clippy::too_many_arguments)]
fn forward_run(
    slots: &mut Slots,
    run: std::ops::Range<usize>,
    client: SocketAddr,
    edge: SocketAddr,
    listener: &Arc<UdpSocket>,
    flows: &mut FlowTable<Entry>,
    app: &Arc<AppShared>,
    now: u64,
) {
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
    flow.touch(now);
    flow.client_datagrams.fetch_add(run.len() as u64, Relaxed);
    let bytes: usize = run.clone().map(|i| slots.len[i]).sum();
    flow.client_bytes.fetch_add(bytes as u64, Relaxed);
    let mode = flow.settings.app.config.proxy_protocol;
    let mut run = run;
    let mut sent = Ok(0);
    if mode == ProxyProtocol::V2 && entry.v2_pending {
        // The first datagram of the flow carries the PROXY v2 header.
        entry.v2_pending = false;
        let mut datagram = proxy_header::v2(Transport::Udp, client, edge);
        datagram.extend_from_slice(&slots.slot(run.start)[batch::HEADROOM..]);
        sent = batch::send(&flow.socket, &[&datagram]);
        run.start += 1;
    }
    if mode == ProxyProtocol::Simple {
        for i in run.clone() {
            let header: &mut [u8; spp::HEADER_LEN] = (&mut slots.slot(i)[..spp::HEADER_LEN])
                .try_into()
                .expect("header room");
            spp::encode(client, edge, header);
        }
    }
    if sent.is_ok() && !run.is_empty() {
        let skip = if mode == ProxyProtocol::Simple {
            0
        } else {
            batch::HEADROOM
        };
        let mut datagrams: [&[u8]; batch::SLOTS] = [&[]; batch::SLOTS];
        for (k, i) in run.clone().enumerate() {
            datagrams[k] = slots.datagram(i, skip);
        }
        sent = batch::send(&flow.socket, &datagrams[..run.len()]);
    }
    if let Err(error) = sent {
        if error.kind() == io::ErrorKind::ConnectionRefused {
            flow.refused();
        } else if error.kind() != io::ErrorKind::WouldBlock {
            tracing::debug!(%error, origin = %flow.origin(), "UDP send to origin failed");
        }
    }
}
