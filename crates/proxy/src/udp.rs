//! An edge UDP listener: one socket per edge address and port. Each client address is a flow
//! with its own socket connected to the origin it was given, until idle for the timeout;
//! replies go back from the edge address and port the client sent to.

use crate::access_log::{log_time, ConnectionEvent};
use crate::app::{AppShared, Settings};
use crate::balancer::Target;
use crate::connection::origin_port;
use crate::flows::{Activity, FlowTable};
use crate::listener::Listener;
use crate::{proxy_header, spp};
use model::{ProxyProtocol, Transport};
use socket2::{Domain, Protocol, SockRef, Socket, Type};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

const BIND_RETRY: Duration = Duration::from_secs(2);
const SWEEP: Duration = Duration::from_millis(500);
/// The largest UDP payload, plus room in front for a Simple Proxy Protocol header.
const BUF: usize = spp::HEADER_LEN + 65_535;

/// What both the listener and the flow's reply task see of a flow.
struct Shared {
    last_active: AtomicU64,
    closed: AtomicBool,
    client_bytes: AtomicU64,
    origin_bytes: AtomicU64,
    client_datagrams: AtomicU64,
    origin_datagrams: AtomicU64,
}

struct Flow {
    socket: Arc<UdpSocket>,
    origin: SocketAddr,
    target: Target,
    settings: Arc<Settings>,
    shared: Arc<Shared>,
    stop: CancellationToken,
    started: chrono::DateTime<chrono::Utc>,
    /// The PROXY v2 header still owed to the origin (first datagram only).
    v2_pending: bool,
    _slot: OwnedSemaphorePermit,
}

impl Activity for Flow {
    fn last_active(&self) -> u64 {
        self.shared.last_active.load(Relaxed)
    }

    fn is_closed(&self) -> bool {
        self.shared.closed.load(Relaxed)
    }
}

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
    let mut flows: FlowTable<Flow> =
        FlowTable::new(node.options.udp_idle_timeout.as_millis() as u64);
    let mut sweep = tokio::time::interval(SWEEP);
    let mut buf = vec![0u8; BUF].into_boxed_slice();
    loop {
        let received = tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            _ = sweep.tick() => {
                for (client, flow) in flows.expire(node.now_ms()) {
                    end(client, edge, flow, app);
                }
                continue;
            }
            received = socket.recv_from(&mut buf[spp::HEADER_LEN..]) => received,
        };
        let (n, client) = match received {
            Ok(r) => r,
            Err(error) => {
                tracing::debug!(%error, "UDP receive failed");
                continue;
            }
        };
        let now = node.now_ms();
        if flows.get(&client, now).is_none() {
            if let Some(stale) = flows.remove(&client) {
                end(client, edge, stale, app);
            }
            let Some(flow) = open(client, edge, &socket, app).await else {
                continue;
            };
            let _ = flows.insert(client, flow);
        }
        let Some(flow) = flows.get_mut(&client) else {
            continue;
        };
        flow.shared.last_active.store(now, Relaxed);
        flow.shared.client_bytes.fetch_add(n as u64, Relaxed);
        flow.shared.client_datagrams.fetch_add(1, Relaxed);
        let sent = match flow.settings.app.config.proxy_protocol {
            ProxyProtocol::Simple => {
                let header: &mut [u8; spp::HEADER_LEN] = (&mut buf[..spp::HEADER_LEN])
                    .try_into()
                    .expect("header room");
                spp::encode(client, edge, header);
                send(&flow.socket, &buf[..spp::HEADER_LEN + n])
            }
            ProxyProtocol::V2 if flow.v2_pending => {
                flow.v2_pending = false;
                let mut datagram = proxy_header::v2(Transport::Udp, client, edge);
                datagram.extend_from_slice(&buf[spp::HEADER_LEN..spp::HEADER_LEN + n]);
                send(&flow.socket, &datagram)
            }
            _ => send(&flow.socket, &buf[spp::HEADER_LEN..spp::HEADER_LEN + n]),
        };
        if let Err(error) = sent {
            if error.kind() == io::ErrorKind::ConnectionRefused {
                refused(flow);
            } else if error.kind() != io::ErrorKind::WouldBlock {
                tracing::debug!(%error, origin = %flow.origin, "UDP send to origin failed");
            }
        }
    }
    // Stopping: UDP has nothing to drain.
    for (client, flow) in flows.drain() {
        end(client, edge, flow, app);
    }
}

/// Sends one datagram on a connected socket now, or not at all: a full socket buffer drops it,
/// as the network would. (Straight to the socket: tokio's `try_send` says "would block" until
/// the runtime has seen a new socket become writable, which would drop every flow's first datagram.)
fn send(socket: &UdpSocket, datagram: &[u8]) -> io::Result<usize> {
    SockRef::from(socket).send(datagram)
}

/// The origin answered with ICMP port unreachable: eject it, and end the flow so the client's
/// next datagram opens a new one (on another origin if there is one).
fn refused(flow: &Flow) {
    flow.shared.closed.store(true, Relaxed);
    let mut origins = flow
        .settings
        .origins
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    origins.failed(flow.target.addr, Instant::now());
}

fn unspecified(for_addr: SocketAddr) -> SocketAddr {
    match for_addr.ip() {
        IpAddr::V4(_) => SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), 0),
        IpAddr::V6(_) => SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), 0),
    }
}

/// Opens a flow for a new client: a slot under the node's flow limit, an origin, a connected
/// socket, and the task that sends the origin's replies back.
async fn open(
    client: SocketAddr,
    edge: SocketAddr,
    listener: &Arc<UdpSocket>,
    app: &Arc<AppShared>,
) -> Option<Flow> {
    let node = &app.node;
    let Ok(slot) = node.udp_flows.clone().try_acquire_owned() else {
        node.counters.udp_flows_refused.fetch_add(1, Relaxed);
        crate::listener::warn_limit(
            node,
            "UDP flow limit reached: dropping datagrams of new flows",
        );
        return None;
    };
    let settings = app.settings.load_full();
    let plan = {
        let origins = settings.origins.lock().unwrap_or_else(|e| e.into_inner());
        origins.plan(Instant::now(), &mut rand::rng())
    };
    for target in plan {
        let Some(port) = origin_port(
            target.addr.port(),
            settings.app.config.protocol.ports,
            edge.port(),
        ) else {
            continue;
        };
        let origin = SocketAddr::new(target.addr.ip(), port);
        let socket = match UdpSocket::bind(unspecified(origin)).await {
            Ok(s) => s,
            Err(error) => {
                tracing::warn!(%error, "cannot open a UDP socket for a flow");
                return None;
            }
        };
        if let Err(error) = socket.connect(origin).await {
            tracing::warn!(%origin, %error, "UDP origin unusable");
            settings
                .origins
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .failed(target.addr, Instant::now());
            continue;
        }
        let socket = Arc::new(socket);
        let shared = Arc::new(Shared {
            last_active: AtomicU64::new(node.now_ms()),
            closed: AtomicBool::new(false),
            client_bytes: AtomicU64::new(0),
            origin_bytes: AtomicU64::new(0),
            client_datagrams: AtomicU64::new(0),
            origin_datagrams: AtomicU64::new(0),
        });
        let stop = CancellationToken::new();
        let replies = Replies {
            from: socket.clone(),
            to: listener.clone(),
            client,
            spp: settings.app.config.proxy_protocol == ProxyProtocol::Simple,
            shared: shared.clone(),
            app: app.clone(),
            settings: settings.clone(),
            target,
        };
        tokio::spawn(replies.run(stop.clone()));
        // Counted as open, not as healthy: a UDP "connect" proves nothing; a reply does.
        settings
            .origins
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .opened(target.addr);
        return Some(Flow {
            socket,
            origin,
            target,
            v2_pending: settings.app.config.proxy_protocol == ProxyProtocol::V2,
            settings,
            shared,
            stop,
            started: chrono::Utc::now(),
            _slot: slot,
        });
    }
    tracing::warn!(%client, "no UDP origin for a new flow; datagram dropped");
    None
}

/// The reply half of a flow: origin datagrams back to the client.
struct Replies {
    from: Arc<UdpSocket>,
    to: Arc<UdpSocket>,
    client: SocketAddr,
    spp: bool,
    shared: Arc<Shared>,
    app: Arc<AppShared>,
    settings: Arc<Settings>,
    target: Target,
}

impl Replies {
    async fn run(self, stop: CancellationToken) {
        let mut buf = vec![0u8; BUF].into_boxed_slice();
        loop {
            let received = tokio::select! {
                _ = stop.cancelled() => return,
                received = self.from.recv(&mut buf) => received,
            };
            let n = match received {
                Ok(n) => n,
                Err(error) if error.kind() == io::ErrorKind::ConnectionRefused => {
                    self.shared.closed.store(true, Relaxed);
                    let mut origins = self
                        .settings
                        .origins
                        .lock()
                        .unwrap_or_else(|e| e.into_inner());
                    origins.failed(self.target.addr, Instant::now());
                    return;
                }
                Err(error) => {
                    tracing::debug!(%error, "UDP receive from origin failed");
                    continue;
                }
            };
            let payload = if self.spp {
                // The origin must echo the client's header; it says where the reply goes.
                match spp::decode(&buf[..n]) {
                    Some((client, _)) if client == self.client => &buf[spp::HEADER_LEN..n],
                    _ => {
                        self.app.node.counters.spp_malformed.fetch_add(1, Relaxed);
                        tracing::debug!(client = %self.client, "reply without a matching Simple Proxy Protocol header dropped");
                        continue;
                    }
                }
            } else {
                &buf[..n]
            };
            self.shared
                .last_active
                .store(self.app.node.now_ms(), Relaxed);
            self.shared
                .origin_bytes
                .fetch_add(payload.len() as u64, Relaxed);
            if self.shared.origin_datagrams.fetch_add(1, Relaxed) == 0 {
                let mut origins = self
                    .settings
                    .origins
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                origins.answered(self.target.addr);
            }
            if let Err(error) =
                SockRef::from(self.to.as_ref()).send_to(payload, &self.client.into())
            {
                tracing::debug!(%error, client = %self.client, "UDP send to client failed");
            }
        }
    }
}

/// Ends a flow: stops its reply task and logs it.
fn end(client: SocketAddr, edge: SocketAddr, flow: Flow, app: &AppShared) {
    flow.stop.cancel();
    flow.settings
        .origins
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .closed(flow.target.addr);
    let refused = flow.shared.closed.load(Relaxed);
    tracing::debug!(%client, %edge, origin = %flow.origin, refused, "UDP flow ended");
    if let Some(log) = &app.node.access_log {
        let now = chrono::Utc::now();
        log.write(&ConnectionEvent {
            timestamp: log_time(now),
            event: "disconnect",
            application: app.id.clone(),
            colo_code: app.node.options.colo.clone(),
            client_ip: client.ip(),
            client_port: client.port(),
            client_proto: "udp",
            client_bytes: flow.shared.client_bytes.load(Relaxed),
            origin_ip: Some(flow.origin.ip()),
            origin_port: Some(flow.origin.port()),
            origin_proto: "udp",
            origin_bytes: flow.shared.origin_bytes.load(Relaxed),
            client_packets: Some(flow.shared.client_datagrams.load(Relaxed)),
            origin_packets: Some(flow.shared.origin_datagrams.load(Relaxed)),
            connect_timestamp: log_time(flow.started),
            disconnect_timestamp: log_time(now),
            ip_protocol: 17,
            proxy_protocol: flow.settings.app.config.proxy_protocol.as_str(),
            status: if refused { 521 } else { 200 },
        });
    }
}
