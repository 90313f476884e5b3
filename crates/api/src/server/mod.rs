//! The API's HTTP server: an accept loop over an already-bound listener that bounds what bad
//! clients can hold (header, body and keep-alive timeouts, a connection cap that closes the
//! oldest connections without a request first) and stops at once on shutdown.
//!
//! Written on hyper directly rather than `axum::serve`, which has no timeouts, no cap and
//! waits for every connection on shutdown.

mod connection;

use crate::{router, ApiState};
pub(crate) use connection::BodyDeadline;
use connection::{Conn, Phase};
use socket2::{SockRef, TcpKeepalive};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio_rustls::rustls::ServerConfig;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How the API treats its connections.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// A request's headers (the first one's counted from the accept, TLS handshake included;
    /// a later one's from its first byte) must arrive within this.
    pub header_timeout: Duration,
    /// A request's body must arrive within this of its headers; else 408.
    pub body_timeout: Duration,
    /// A connection with no request for this long after its last response is closed.
    pub idle_timeout: Duration,
    /// Open API connections; at the cap the oldest without a request in progress is closed.
    pub max_connections: usize,
    /// On shutdown, requests in progress get this long to finish.
    pub drain_timeout: Duration,
    /// HTTPS when set.
    pub tls: Option<Arc<ServerConfig>>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            max_connections: 1024,
            drain_timeout: Duration::from_secs(30),
            tls: None,
        }
    }
}

/// After this long without traffic, keepalive probes check that an API client is still there.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(60);

/// The open connections, oldest (lowest id) first.
#[derive(Default)]
struct Registry {
    open: Mutex<BTreeMap<u64, Arc<Conn>>>,
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Arc<Conn>>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes room for one more connection under `cap`: closes the oldest connection that has
    /// not sent a request yet, else the oldest idle between requests. False when every
    /// connection has a request in progress.
    fn make_room(&self, cap: usize) -> bool {
        let mut open = self.lock();
        if open.len() < cap {
            return true;
        }
        let victim = [Phase::Fresh, Phase::Idle].into_iter().find_map(|phase| {
            open.iter()
                .find(|(_, c)| c.phase() == phase)
                .map(|(id, _)| *id)
        });
        match victim.and_then(|id| open.remove(&id)) {
            Some(conn) => {
                conn.close.cancel();
                true
            }
            None => false,
        }
    }
}

/// Serves the API on an already-bound listener until `shutdown` completes; then stops
/// accepting, closes every connection without a request in progress at once, and gives the
/// others `drain_timeout`.
pub async fn serve_with(
    listener: TcpListener,
    state: ApiState,
    options: ServerOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(state);
    let options = Arc::new(options);
    let registry = Arc::new(Registry::default());
    let stopping = CancellationToken::new();
    let tasks = TaskTracker::new();
    let mut next_id = 0u64;
    let mut backoff = Duration::ZERO;
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of descriptors or memory: back off instead of spinning.
                    backoff = (backoff * 2).clamp(Duration::from_millis(5), Duration::from_secs(1));
                    tracing::warn!(%error, backoff_ms = backoff.as_millis() as u64, "API accept failed");
                    tokio::time::sleep(backoff).await;
                    continue;
                }
            },
        };
        backoff = Duration::ZERO;
        if !registry.make_room(options.max_connections) {
            tracing::warn!(
                max = options.max_connections,
                "API connection limit reached with every connection busy; closing a new one"
            );
            continue;
        }
        let socket = SockRef::from(&stream);
        let _ = socket.set_tcp_nodelay(true);
        let _ = socket.set_tcp_keepalive(&TcpKeepalive::new().with_time(KEEPALIVE_IDLE));
        next_id += 1;
        let id = next_id;
        let conn = Arc::new(Conn::new(Instant::now()));
        registry.lock().insert(id, conn.clone());
        let registry = registry.clone();
        let (app, options, stopping) = (app.clone(), options.clone(), stopping.clone());
        tasks.spawn(async move {
            connection::serve(stream, peer, &conn, app, &options, &stopping).await;
            registry.lock().remove(&id);
        });
    }
    drop(listener);
    stopping.cancel();
    tasks.close();
    let open = tasks.len();
    if open > 0 {
        tracing::info!(open, "API stopping: finishing requests in progress");
    }
    if tokio::time::timeout(options.drain_timeout, tasks.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            open = tasks.len(),
            "API requests still running at the drain timeout; closing them"
        );
        for conn in registry.lock().values() {
            conn.close.cancel();
        }
        tasks.wait().await;
    }
    Ok(())
}

/// An HTTPS configuration for the API from a certificate chain (leaf first) and its key.
pub fn tls_config(
    chain: Vec<rustls_pki_types::CertificateDer<'static>>,
    key: rustls_pki_types::PrivateKeyDer<'static>,
) -> Result<Arc<ServerConfig>, String> {
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| e.to_string())?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
