//! One UDP flow: a client's socket to its origin, the task that sends the origin's replies
//! back, and the line logged when it ends.

use super::batch::{self, with_slots, Slots};
use super::flows::Activity;
use crate::origin::balancer::Target;
use crate::runtime::context::{AppShared, Settings};
use crate::telemetry::access_log::{log_time, ConnectionEvent};
use crate::telemetry::analytics::PROGRESS_EVERY;
use crate::wire::spp;
use model::analytics::{EventKind, Sample};
use model::ProxyProtocol;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Instant;
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::sync::OwnedSemaphorePermit;

/// Batches one flow may take in one go before its task yields.
const ROUNDS: usize = 4;

/// What the listener and the reply task share of a flow: one allocation per flow.
pub(crate) struct Flow {
    /// Connected to the origin.
    pub socket: UdpSocket,
    /// The edge socket the client sent to: replies leave from it.
    listener: Arc<UdpSocket>,
    client: SocketAddr,
    origin: SocketAddr,
    target: Target,
    pub settings: Arc<Settings>,
    app: Arc<AppShared>,
    last_active: AtomicU64,
    closed: AtomicBool,
    pub client_bytes: AtomicU64,
    origin_bytes: AtomicU64,
    pub client_datagrams: AtomicU64,
    origin_datagrams: AtomicU64,
    started: chrono::DateTime<chrono::Utc>,
    /// When the flow opened, on the node's millisecond clock.
    opened_ms: u64,
    /// Bytes each way reported in analytics events so far, and when (the listener's task
    /// alone updates these).
    reported: AtomicU64Pair,
    progress_at_ms: AtomicU64,
}

/// Two counters (client bytes, origin bytes).
#[derive(Default)]
struct AtomicU64Pair(AtomicU64, AtomicU64);

/// The listener's handle on a flow.
pub(crate) struct Entry {
    pub flow: Arc<Flow>,
    /// The reply task, aborted when the flow ends.
    replies: tokio::task::AbortHandle,
    /// The PROXY v2 header still owed to the origin (first datagram only).
    pub v2_pending: bool,
    _slot: OwnedSemaphorePermit,
}

impl Activity for Entry {
    fn last_active(&self) -> u64 {
        self.flow.last_active.load(Relaxed)
    }

    fn is_closed(&self) -> bool {
        self.flow.closed.load(Relaxed)
    }
}

impl Flow {
    pub fn touch(&self, now: u64) {
        self.last_active.store(now, Relaxed);
    }

    /// The origin answered with ICMP port unreachable: eject it, and close the flow so the
    /// client's next datagram opens a new one (on another origin if there is one).
    pub fn refused(&self) {
        self.closed.store(true, Relaxed);
        let mut origins = self.settings.balancer();
        origins.failed(self.target.addr, Instant::now());
    }

    pub fn origin(&self) -> SocketAddr {
        self.origin
    }
}

/// A socket connected to `origin` (a UDP connect only fixes the peer: no waiting).
fn connected_socket(origin: SocketAddr) -> io::Result<UdpSocket> {
    let any: IpAddr = match origin.ip() {
        IpAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
        IpAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
    };
    let socket = std::net::UdpSocket::bind(SocketAddr::new(any, 0))?;
    socket.connect(origin)?;
    socket.set_nonblocking(true)?;
    UdpSocket::from_std(socket)
}

/// Opens a flow for a new client: a slot under the node's flow limit, an origin, a connected
/// socket, and the task that sends the origin's replies back.
pub(crate) fn open(
    client: SocketAddr,
    edge: SocketAddr,
    listener: &Arc<UdpSocket>,
    app: &Arc<AppShared>,
) -> Option<Entry> {
    let node = &app.node;
    let settings = app.settings.load_full();
    if !node.admits(&settings.app, client.ip()) {
        // Each datagram of a refused client is checked and dropped: it never gets a flow.
        node.counters.clients_filtered.fetch_add(1, Relaxed);
        record(app, EventKind::ClientFiltered, client, Sample::default());
        return None;
    }
    let Ok(slot) = node.udp_flows.clone().try_acquire_owned() else {
        node.counters.udp_flows_refused.fetch_add(1, Relaxed);
        crate::listen::warn_limit(
            node,
            "UDP flow limit reached: dropping datagrams of new flows",
        );
        return None;
    };
    for (target, origin) in settings.plan(edge.port()) {
        let socket = match connected_socket(origin) {
            Ok(s) => s,
            Err(error) => {
                tracing::warn!(%origin, %error, "cannot open a UDP socket to the origin");
                settings.balancer().failed(target.addr, Instant::now());
                continue;
            }
        };
        // Counted as open, not as healthy: a UDP "connect" proves nothing; a reply does.
        settings.balancer().opened(target.addr);
        let v2_pending = settings.app.config.proxy_protocol == ProxyProtocol::V2;
        let flow = Arc::new(Flow {
            socket,
            listener: listener.clone(),
            client,
            origin,
            target,
            settings,
            app: app.clone(),
            last_active: AtomicU64::new(node.now_ms()),
            closed: AtomicBool::new(false),
            client_bytes: AtomicU64::new(0),
            origin_bytes: AtomicU64::new(0),
            client_datagrams: AtomicU64::new(0),
            origin_datagrams: AtomicU64::new(0),
            started: chrono::Utc::now(),
            opened_ms: node.now_ms(),
            reported: AtomicU64Pair::default(),
            progress_at_ms: AtomicU64::new(node.now_ms()),
        });
        record(app, EventKind::Connect, client, Sample::default());
        let replies = tokio::spawn(replies(flow.clone())).abort_handle();
        return Some(Entry {
            flow,
            replies,
            v2_pending,
            _slot: slot,
        });
    }
    tracing::warn!(%client, "no UDP origin for a new flow; datagram dropped");
    record(app, EventKind::Connect, client, Sample::default());
    let failed = Sample {
        duration_ms: Some(0.0),
        ..Sample::default()
    };
    record(app, EventKind::OriginError, client, failed);
    None
}

fn record(app: &AppShared, event: EventKind, client: SocketAddr, sample: Sample) {
    if let Some(analytics) = &app.node.analytics {
        // A flow's origin error: it refused the flow (ICMP), or no socket could reach it.
        let status = if event == EventKind::OriginError {
            521
        } else {
            0
        };
        analytics.record(&app.analytics_ref, event, client.ip(), sample, status);
    }
}

/// The flow's bytes each way since its last event (marked reported), with `duration_ms`.
fn since_reported(flow: &Flow, duration_ms: Option<f64>) -> Sample {
    let (up, down) = (
        flow.client_bytes.load(Relaxed),
        flow.origin_bytes.load(Relaxed),
    );
    let before = (
        flow.reported.0.swap(up, Relaxed),
        flow.reported.1.swap(down, Relaxed),
    );
    Sample {
        bytes_ingress: up.saturating_sub(before.0),
        bytes_egress: down.saturating_sub(before.1),
        duration_ms,
    }
}

/// Reports the flow's `progress` when it has been open another minute since its last one.
pub(crate) fn progress(entry: &Entry, now_ms: u64) {
    let flow = &entry.flow;
    let every = PROGRESS_EVERY.as_millis() as u64;
    if now_ms.saturating_sub(flow.progress_at_ms.load(Relaxed)) < every {
        return;
    }
    flow.progress_at_ms.fetch_add(every, Relaxed);
    record(
        &flow.app,
        EventKind::Progress,
        flow.client,
        since_reported(flow, None),
    );
}

/// The reply half of a flow: origin datagrams back to the client, in batches.
async fn replies(flow: Arc<Flow>) {
    loop {
        if flow.socket.readable().await.is_err() {
            return;
        }
        let outcome = with_slots(|slots| {
            for _ in 0..ROUNDS {
                let n = match flow
                    .socket
                    .try_io(Interest::READABLE, || batch::recv(&flow.socket, slots))
                {
                    Ok(n) => n,
                    Err(error) => return Err(error),
                };
                back(&flow, slots, n);
                if n < batch::SLOTS {
                    break;
                }
            }
            Ok(())
        });
        match outcome {
            Err(error) if error.kind() == io::ErrorKind::ConnectionRefused => {
                flow.refused();
                return;
            }
            Err(error) if error.kind() != io::ErrorKind::WouldBlock => {
                tracing::debug!(%error, "UDP receive from origin failed");
            }
            _ => {}
        }
    }
}

/// Sends `n` received origin datagrams back to the client (SPP: checked and stripped).
fn back(flow: &Flow, slots: &Slots, n: usize) {
    let spp = flow.settings.app.config.proxy_protocol == ProxyProtocol::Simple;
    let mut payloads: [&[u8]; batch::SLOTS] = [&[]; batch::SLOTS];
    let mut count = 0;
    let mut bytes = 0;
    for i in 0..n {
        let datagram = slots.datagram(i, batch::HEADROOM);
        let payload = if spp {
            // The origin must echo the client's header; it says where the reply goes.
            match spp::decode(datagram) {
                Some((client, _)) if client == flow.client => &datagram[spp::HEADER_LEN..],
                _ => {
                    flow.app.node.counters.spp_malformed.fetch_add(1, Relaxed);
                    crate::listen::warn_limit(
                        &flow.app.node,
                        "origin reply without a matching Simple Proxy Protocol header dropped",
                    );
                    continue;
                }
            }
        } else {
            datagram
        };
        payloads[count] = payload;
        count += 1;
        bytes += payload.len();
    }
    if count == 0 {
        return;
    }
    flow.touch(flow.app.node.now_ms());
    flow.origin_bytes.fetch_add(bytes as u64, Relaxed);
    if flow.origin_datagrams.fetch_add(count as u64, Relaxed) == 0 {
        let mut origins = flow.settings.balancer();
        origins.answered(flow.target.addr);
    }
    if let Err(error) = batch::send_to(flow.listener.as_ref(), flow.client, &payloads[..count]) {
        tracing::debug!(%error, client = %flow.client, "UDP send to client failed");
    }
}

/// Ends a flow: stops its reply task and logs it.
pub(crate) fn end(edge: SocketAddr, entry: Entry) {
    entry.replies.abort();
    let flow = &entry.flow;
    flow.settings.balancer().closed(flow.target.addr);
    let refused = flow.closed.load(Relaxed);
    tracing::debug!(client = %flow.client, %edge, origin = %flow.origin, refused, "UDP flow ended");
    if flow.app.node.analytics.is_some() {
        let lived = flow.app.node.now_ms().saturating_sub(flow.opened_ms);
        let sample = since_reported(flow, Some(lived as f64));
        let event = if refused {
            EventKind::OriginError
        } else {
            EventKind::Disconnect
        };
        record(&flow.app, event, flow.client, sample);
    }
    let Some(log) = &flow.app.node.access_log else {
        return;
    };
    let now = chrono::Utc::now();
    log.write(&ConnectionEvent {
        timestamp: log_time(now),
        event: "disconnect",
        application: flow.app.id.clone(),
        colo_code: flow.app.node.options.colo.clone(),
        client_ip: flow.client.ip(),
        client_port: flow.client.port(),
        client_proto: "udp",
        client_bytes: flow.client_bytes.load(Relaxed),
        origin_ip: Some(flow.origin.ip()),
        origin_port: Some(flow.origin.port()),
        origin_proto: "udp",
        origin_bytes: flow.origin_bytes.load(Relaxed),
        client_packets: Some(flow.client_datagrams.load(Relaxed)),
        origin_packets: Some(flow.origin_datagrams.load(Relaxed)),
        connect_timestamp: log_time(flow.started),
        disconnect_timestamp: log_time(now),
        ip_protocol: 17,
        proxy_protocol: flow.settings.app.config.proxy_protocol.as_str(),
        status: if refused { 521 } else { 200 },
    });
}
