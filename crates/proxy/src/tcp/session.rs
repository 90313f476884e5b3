//! One accepted TCP connection on a task of its own (a plain TCP app's admitted connections run
//! on the reactor instead): for an `http` app the HTTP exchange; else the zone's access
//! rules, then for an app with `tls` the TLS session, else an origin (failing over within the connect budget), the PROXY header and the
//! relay; and the log line of how it ended and which side failed.

use super::connect::{connect, tune};
use super::log::{log, Events};
use super::relay::relay;
use crate::clients::ClientSlot;
use crate::runtime::context::{AppShared, Settings};
use crate::telemetry::outcome::{limit, relay_status, Side, FILTERED};
use model::TrafficType;
use socket2::SockRef;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tracing::Instrument;

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
    let kind = settings.app.config.traffic_type;
    if (kind == TrafficType::Http && settings.tls.is_none()) || kind == TrafficType::Https {
        // Boxed: an HTTP exchange's state would otherwise sit in every TCP connection's task.
        let work = Box::pin(crate::http::server::serve(
            client, peer, edge, settings, app,
        ));
        tokio::select! {
            () = work.instrument(span) => {}
            () = kill.cancelled() => {}
        }
        return;
    }
    let work = proxy(client, peer, edge, &settings, &app);
    tokio::select! {
        () = work.instrument(span) => {}
        () = kill.cancelled() => {}
    }
}

async fn proxy(
    client: TcpStream,
    peer: SocketAddr,
    edge: SocketAddr,
    settings: &Settings,
    app: &AppShared,
) {
    // Only the connection log needs the wall clock.
    let connected_at = app.node.access_log.as_ref().map(|_| chrono::Utc::now());
    let mut events = Events::new(app, peer.ip());
    let admitted = app.node.admits(&settings.app, peer.ip());
    if admitted {
        events.connect();
    }
    let outcome = if !admitted {
        tracing::info!("client refused by the zone's IP Access Rules");
        app.node
            .counters
            .clients_filtered
            .fetch_add(1, Ordering::Relaxed);
        ("clientFiltered", FILTERED, None, 0, 0)
    } else if let Some(tls) = &settings.tls {
        // Boxed: the handshakes' state would otherwise sit in every connection's task.
        Box::pin(crate::tls::session::proxy(
            client,
            peer,
            edge,
            settings,
            app,
            tls,
            &mut events,
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
                let (status, up, down) =
                    run(&client, stream, peer, edge, settings, app, &mut events).await;
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
    events.end(&outcome);
    if let Some(connected_at) = connected_at {
        log(app, settings, peer, connected_at, outcome);
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
    events: &mut Events<&AppShared>,
) -> (u16, u64, u64) {
    if let Some(header) = settings.proxy_header(peer, edge) {
        if let Err(e) = origin.write_all(&header).await {
            return (relay_status(Side::Origin, &e), 0, 0);
        }
    }
    let relayed = relay(
        client,
        &origin,
        app.node.options.tcp_idle_timeout,
        events.progress_every(),
        |up, down| events.progress(up, down),
    )
    .await;
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
