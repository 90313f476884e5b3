//! One proxied TCP connection: pick an origin (failing over within the connect budget), send
//! the PROXY header, relay both ways, and log how it ended and which side failed.

use crate::access_log::{log_time, ConnectionEvent};
use crate::app::{AppShared, Settings};
use crate::balancer::Target;
use crate::clients::ClientSlot;
use crate::proxy_header;
use crate::relay::{relay, Side};
use chrono::{DateTime, Utc};
use model::{ProxyProtocol, Transport};
use socket2::{SockRef, TcpKeepalive};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tracing::Instrument;

/// After this long without traffic, TCP keepalive probes check that the peer is still there.
pub(crate) const KEEPALIVE_IDLE: Duration = Duration::from_secs(60);

/// No Nagle delay, and keepalive, so dead peers of idle connections are found. Client
/// sockets inherit both from their listener; origin sockets get them here.
pub(crate) fn tune(socket: SockRef<'_>) {
    let _ = socket.set_tcp_nodelay(true);
    let _ = socket.set_tcp_keepalive(&TcpKeepalive::new().with_time(KEEPALIVE_IDLE));
}

/// Cloudflare's event-log status for a client an IP Access Rule refused.
const FILTERED: u16 = 403;
/// Spectra's event-log statuses for connections closed by one of its limits.
pub(crate) mod limit {
    /// No byte either way for `--tcp-idle-timeout`.
    pub const IDLE: u16 = 408;
    /// The client held `--max-connections-per-client` already.
    pub const PER_CLIENT: u16 = 429;
    /// The client's TLS handshake did not finish within `--tls-handshake-timeout`.
    pub const TLS_HANDSHAKE: u16 = 442;
    /// The node held `--max-connections` already.
    pub const NODE: u16 = 503;
}

/// Cloudflare's event-log status for a failed origin connect.
fn connect_status(error: &io::Error) -> u16 {
    match error.kind() {
        io::ErrorKind::ConnectionRefused => 521,
        io::ErrorKind::TimedOut => 522,
        io::ErrorKind::HostUnreachable | io::ErrorKind::NetworkUnreachable => 523,
        _ => 520,
    }
}

/// Cloudflare's event-log status for a relay that failed on `side`.
pub(crate) fn relay_status(side: Side, error: &io::Error) -> u16 {
    use io::ErrorKind::*;
    match (side, error.kind()) {
        (Side::Client, ConnectionReset) => 499,
        (Side::Client, BrokenPipe) => 498,
        (Side::Client, TimedOut) => 497,
        (Side::Client, HostUnreachable) => 496,
        (Side::Client, ConnectionRefused) => 495,
        (Side::Client, _) => 499,
        (Side::Origin, ConnectionReset) => 444,
        (Side::Origin, TimedOut) => 445,
        (Side::Origin, HostUnreachable) => 446,
        (Side::Origin, BrokenPipe) => 448,
        (Side::Origin, _) => 447,
    }
}

/// An open origin connection, counted in its balancer until dropped.
pub(crate) struct Active<'a> {
    settings: &'a Settings,
    target: Target,
}

impl Drop for Active<'_> {
    fn drop(&mut self) {
        self.settings.balancer().closed(self.target.addr);
    }
}

/// Tries the origins in the balancer's order until one answers, within `budget`, giving each
/// attempt an equal share of what is left so a black-holing origin cannot eat all of it.
pub(crate) async fn connect<'a>(
    settings: &'a Settings,
    edge: SocketAddr,
    budget: Duration,
) -> Result<(TcpStream, SocketAddr, Active<'a>), (u16, Option<SocketAddr>)> {
    let deadline = Instant::now() + budget;
    if let Some(resolved) = &settings.resolved {
        // A connection that arrives while the first answer is on its way waits for it.
        let mut resolved = resolved.clone();
        let _ = tokio::time::timeout(budget, resolved.wait_for(|done| *done)).await;
    }
    let plan = settings.plan(edge.port());
    if plan.is_empty() {
        return Err((531, None));
    }
    let mut last = (522, None);
    for (i, &(target, addr)) in plan.iter().enumerate() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        let share = left / (plan.len() - i) as u32;
        let error = match tokio::time::timeout(share, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => {
                settings.balancer().connected(target.addr);
                return Ok((stream, addr, Active { settings, target }));
            }
            Ok(Err(e)) => e,
            Err(_) => io::Error::from(io::ErrorKind::TimedOut),
        };
        tracing::warn!(origin = %addr, %error, "origin connect failed");
        settings.balancer().failed(target.addr, Instant::now());
        last = (connect_status(&error), Some(addr));
    }
    Err(last)
}

pub(crate) async fn handle(
    client: TcpStream,
    peer: SocketAddr,
    edge: SocketAddr,
    settings: Arc<Settings>,
    app: Arc<AppShared>,
    _slots: (OwnedSemaphorePermit, ClientSlot),
) {
    let span = tracing::debug_span!(parent: &app.span, "connection", client = %peer, %edge);
    let kill = app.kill.clone();
    let work = proxy(client, peer, edge, &settings, &app);
    tokio::select! {
        () = work.instrument(span) => {}
        () = kill.cancelled() => {}
    }
}

/// How a connection ended, for its log line: event, status, origin, bytes each way.
pub(crate) type Outcome = (&'static str, u16, Option<SocketAddr>, u64, u64);

async fn proxy(
    client: TcpStream,
    peer: SocketAddr,
    edge: SocketAddr,
    settings: &Settings,
    app: &AppShared,
) {
    // Only the connection log needs the wall clock.
    let connected_at = app.node.access_log.as_ref().map(|_| chrono::Utc::now());
    let outcome = if !app.node.admits(&settings.app, peer.ip()) {
        tracing::info!("client refused by the zone's IP Access Rules");
        app.node
            .counters
            .clients_filtered
            .fetch_add(1, Ordering::Relaxed);
        ("clientFiltered", FILTERED, None, 0, 0)
    } else if let Some(tls) = &settings.tls {
        // Boxed: the handshakes' state would otherwise sit in every connection's task.
        Box::pin(crate::tls_connection::proxy(
            client, peer, edge, settings, app, tls,
        ))
        .await
    } else {
        // Boxed: the connect phase's state would otherwise sit in every connection's task
        // for its whole life. (Inline, not a function of its own: that would keep a second
        // copy of this function's arguments in every idle connection.)
        match Box::pin(connect(settings, edge, app.node.options.connect_timeout)).await {
            Err((status, origin)) => {
                tracing::warn!(status, "no origin reachable; closing the client connection");
                ("originError", status, origin, 0, 0)
            }
            Ok((stream, origin, _active)) => {
                tune(SockRef::from(&stream));
                let (status, up, down) = run(&client, stream, peer, edge, settings, app).await;
                ("disconnect", status, Some(origin), up, down)
            }
        }
    };
    tracing::debug!(
        status = outcome.1,
        client_bytes = outcome.3,
        origin_bytes = outcome.4,
        "connection closed"
    );
    if let Some(connected_at) = connected_at {
        log(app, settings, peer, connected_at, outcome);
    }
}

/// Writes the connection log line of a TCP connection, when the log is on.
pub(crate) fn log(
    app: &AppShared,
    settings: &Settings,
    peer: SocketAddr,
    connected_at: DateTime<Utc>,
    outcome: Outcome,
) {
    let Some(log) = &app.node.access_log else {
        return;
    };
    let (event, status, origin, client_bytes, origin_bytes) = outcome;
    let now = Utc::now();
    log.write(&ConnectionEvent {
        timestamp: log_time(now),
        event,
        application: app.id.clone(),
        colo_code: app.node.options.colo.clone(),
        client_ip: peer.ip(),
        client_port: peer.port(),
        client_proto: "tcp",
        client_bytes,
        origin_ip: origin.map(|o| o.ip()),
        origin_port: origin.map(|o| o.port()),
        origin_proto: "tcp",
        origin_bytes,
        client_packets: None,
        origin_packets: None,
        connect_timestamp: log_time(connected_at),
        disconnect_timestamp: log_time(now),
        ip_protocol: 6,
        proxy_protocol: settings.app.config.proxy_protocol.as_str(),
        status,
    });
}

/// The app's PROXY header for this connection, if it sends one.
pub(crate) fn proxy_header(
    settings: &Settings,
    peer: SocketAddr,
    edge: SocketAddr,
) -> Option<Vec<u8>> {
    match settings.app.config.proxy_protocol {
        ProxyProtocol::V1 => Some(proxy_header::v1(peer, edge)),
        ProxyProtocol::V2 => Some(proxy_header::v2(Transport::Tcp, peer, edge)),
        ProxyProtocol::Off | ProxyProtocol::Simple => None,
    }
}

/// Sends the PROXY header (before any client byte: servers like SSH speak first), then relays.
async fn run(
    client: &TcpStream,
    mut origin: TcpStream,
    peer: SocketAddr,
    edge: SocketAddr,
    settings: &Settings,
    app: &AppShared,
) -> (u16, u64, u64) {
    if let Some(header) = proxy_header(settings, peer, edge) {
        if let Err(e) = origin.write_all(&header).await {
            return (relay_status(Side::Origin, &e), 0, 0);
        }
    }
    let relayed = relay(client, &origin, app.node.options.tcp_idle_timeout).await;
    let status = match &relayed.error {
        None if relayed.idle => {
            tracing::debug!("idle timeout: closing");
            app.node.counters.timed_out.fetch_add(1, Ordering::Relaxed);
            limit::IDLE
        }
        None => 200,
        Some((side, error)) => {
            tracing::debug!(?side, %error, "relay failed");
            relay_status(*side, error)
        }
    };
    (status, relayed.client_bytes, relayed.origin_bytes)
}
