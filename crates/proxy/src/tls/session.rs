//! One connection of an app with `tls`: the client's handshake at the edge, the origin (over
//! TLS for `full` and `strict`, after the PROXY header in the clear), then the decrypted bytes
//! both ways.

use super::certs::AppTls;
use super::relay::Relay;
use crate::runtime::context::{AppShared, Settings};
use crate::tcp::connect::{connect, tune};
use crate::tcp::log::Events;
use crate::telemetry::outcome::{limit, relay_status, Outcome, Side};
use socket2::SockRef;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_rustls::rustls::server::Acceptor;
use tokio_rustls::server::TlsStream;
use tokio_rustls::LazyConfigAcceptor;

/// Cloudflare's event-log statuses for TLS at the edge.
const BAD_SNI: u16 = 400;
const CLIENT_HANDSHAKE: u16 = 443;
const CLIENT_TLS: u16 = 490;
const BAD_EDGE_TLS: u16 = 540;

/// The client's TLS handshake at the edge, within `--tls-handshake-timeout`; a client hello
/// naming another hostname is refused before any certificate is sent.
pub(crate) async fn accept(
    client: TcpStream,
    tls: &AppTls,
    app: &AppShared,
) -> Result<TlsStream<TcpStream>, Outcome> {
    let Ok(config) = &tls.edge else {
        return Err(("tlsError", BAD_EDGE_TLS, None, 0, 0));
    };
    let handshake = async {
        let hello = LazyConfigAcceptor::new(Acceptor::default(), client).await?;
        // A client hello naming another hostname is refused before any certificate is sent.
        if let Some(sni) = hello.client_hello().server_name() {
            if !sni.eq_ignore_ascii_case(&tls.hostname) {
                tracing::debug!(sni, "client asked for another hostname");
                return Ok(None);
            }
        }
        hello.into_stream(config.clone()).await.map(Some)
    };
    match timeout(app.node.options.tls_handshake_timeout, handshake).await {
        Ok(Ok(Some(stream))) => Ok(stream),
        Ok(Ok(None)) => Err(("tlsError", BAD_SNI, None, 0, 0)),
        Ok(Err(error)) => {
            tracing::debug!(%error, "client TLS handshake failed");
            Err(("tlsError", CLIENT_HANDSHAKE, None, 0, 0))
        }
        Err(_) => {
            tracing::debug!("client TLS handshake timed out");
            app.node.counters.timed_out.fetch_add(1, Ordering::Relaxed);
            Err(("tlsError", limit::TLS_HANDSHAKE, None, 0, 0))
        }
    }
}

pub(crate) async fn proxy(
    client: TcpStream,
    peer: SocketAddr,
    edge: SocketAddr,
    settings: &Settings,
    app: &AppShared,
    tls: &AppTls,
    events: &mut Events<&AppShared>,
) -> Outcome {
    let budget = app.node.options.connect_timeout;
    let idle = app.node.options.tcp_idle_timeout;
    let client = match accept(client, tls, app).await {
        Ok(stream) => stream,
        Err(outcome) => return outcome,
    };
    let (mut origin, addr, _active) = match connect(settings, edge, budget).await {
        Ok(connected) => connected,
        Err((status, origin)) => {
            tracing::warn!(status, "no origin reachable; closing the client connection");
            return ("originError", status, origin, 0, 0);
        }
    };
    tune(SockRef::from(&origin));
    if let Some(header) = settings.proxy_header(peer, edge) {
        if let Err(e) = origin.write_all(&header).await {
            return (
                "disconnect",
                relay_status(Side::Origin, &e),
                Some(addr),
                0,
                0,
            );
        }
    }
    let (status, up, down) = match &tls.origin {
        None => relay(client, origin, idle, events).await,
        Some((connector, name)) => {
            match timeout(budget, connector.connect(name.clone(), origin)).await {
                Ok(Ok(origin)) => relay(client, origin, idle, events).await,
                Ok(Err(error)) => {
                    tracing::warn!(%error, "origin TLS handshake failed");
                    return ("originError", 520, Some(addr), 0, 0);
                }
                Err(_) => return ("originError", 522, Some(addr), 0, 0),
            }
        }
    };
    if status == limit::IDLE {
        app.node.counters.timed_out.fetch_add(1, Ordering::Relaxed);
    }
    ("disconnect", status, Some(addr), up, down)
}

/// Decrypted bytes both ways, half-close passed on as close_notify and FIN, until both sides
/// are done or no byte moved for `idle`.
async fn relay(
    client: impl AsyncRead + AsyncWrite + Unpin,
    origin: impl AsyncRead + AsyncWrite + Unpin,
    idle: Duration,
    events: &mut Events<&AppShared>,
) -> (u16, u64, u64) {
    let mut relay = Relay::new(client, origin);
    let every = events.progress_every();
    let ended = crate::tcp::idle::timeout(
        &mut relay,
        |r| r.last_active(),
        idle,
        every,
        |r| {
            let (up, down) = r.bytes();
            events.progress(up, down);
        },
    )
    .await;
    let (up, down) = relay.bytes();
    let status = match ended {
        None => limit::IDLE,
        Some(Ok(_)) => 200,
        Some(Err((side, error))) => {
            tracing::debug!(?side, %error, "TLS relay failed");
            if side == Side::Client && error.kind() == io::ErrorKind::InvalidData {
                CLIENT_TLS
            } else {
                relay_status(side, &error)
            }
        }
    };
    (status, up, down)
}
