//! One connection of an app with `tls`: the client's handshake at the edge, the origin (over
//! TLS for `full` and `strict`, after the PROXY header in the clear), then the decrypted bytes
//! both ways.

use crate::app::{AppShared, Settings};
use crate::connection::{connect, proxy_header, relay_status, tune, Outcome};
use crate::relay::Side;
use crate::tls::AppTls;
use socket2::SockRef;
use std::io;
use std::net::SocketAddr;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_rustls::rustls::server::Acceptor;
use tokio_rustls::LazyConfigAcceptor;

/// Cloudflare's event-log statuses for TLS at the edge.
const BAD_SNI: u16 = 400;
const CLIENT_HANDSHAKE: u16 = 443;
const CLIENT_TLS: u16 = 490;
const BAD_EDGE_TLS: u16 = 540;

pub(crate) async fn proxy(
    client: TcpStream,
    peer: SocketAddr,
    edge: SocketAddr,
    settings: &Settings,
    app: &AppShared,
    tls: &AppTls,
) -> Outcome {
    let budget = app.node.options.connect_timeout;
    let Ok(config) = &tls.edge else {
        return ("tlsError", BAD_EDGE_TLS, None, 0, 0);
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
    let client = match timeout(budget, handshake).await {
        Ok(Ok(Some(stream))) => stream,
        Ok(Ok(None)) => return ("tlsError", BAD_SNI, None, 0, 0),
        Ok(Err(error)) => {
            tracing::debug!(%error, "client TLS handshake failed");
            return ("tlsError", CLIENT_HANDSHAKE, None, 0, 0);
        }
        Err(_) => return ("tlsError", CLIENT_HANDSHAKE, None, 0, 0),
    };
    let (mut origin, addr, _active) = match connect(settings, edge, budget).await {
        Ok(connected) => connected,
        Err((status, origin)) => {
            tracing::warn!(status, "no origin reachable; closing the client connection");
            return ("originError", status, origin, 0, 0);
        }
    };
    tune(SockRef::from(&origin));
    if let Some(header) = proxy_header(settings, peer, edge) {
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
        None => relay(client, origin).await,
        Some((connector, name)) => {
            match timeout(budget, connector.connect(name.clone(), origin)).await {
                Ok(Ok(origin)) => relay(client, origin).await,
                Ok(Err(error)) => {
                    tracing::warn!(%error, "origin TLS handshake failed");
                    return ("originError", 520, Some(addr), 0, 0);
                }
                Err(_) => return ("originError", 522, Some(addr), 0, 0),
            }
        }
    };
    ("disconnect", status, Some(addr), up, down)
}

/// Decrypted bytes both ways, half-close passed on as close_notify and FIN.
async fn relay(
    mut client: impl AsyncRead + AsyncWrite + Unpin,
    mut origin: impl AsyncRead + AsyncWrite + Unpin,
) -> (u16, u64, u64) {
    match tokio::io::copy_bidirectional(&mut client, &mut origin).await {
        Ok((up, down)) => (200, up, down),
        Err(error) => {
            tracing::debug!(%error, "TLS relay failed");
            let status = if error.kind() == io::ErrorKind::InvalidData {
                CLIENT_TLS
            } else {
                relay_status(Side::Client, &error)
            };
            (status, 0, 0)
        }
    }
}
