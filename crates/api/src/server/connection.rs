//! One API connection: HTTP/1.1 (over TLS when configured) with a watchdog that closes it when
//! a request's headers are late or it sits idle too long, and that lets it finish a request in
//! progress when the server stops.

use super::ServerOptions;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper::Request;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::future::pending;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    /// Accepted; no request yet.
    Fresh = 0,
    /// A request's headers have arrived and its answer is not yet made.
    InRequest = 1,
    /// Between requests, after at least one answer.
    Idle = 2,
}

/// When a request must complete in a handler, its body must have arrived by this instant.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyDeadline(pub Instant);

/// What the watchdog, the service and the socket of one connection share.
pub(super) struct Conn {
    accepted: Instant,
    phase: AtomicU8,
    /// Milliseconds after `accepted` when the current phase began.
    since_ms: AtomicU64,
    /// In `Idle`: 1 + milliseconds after `accepted` of the next request's first byte; 0: none.
    reading_ms: AtomicU64,
    changed: Notify,
    /// Cancelled to close the connection (evicted, or the drain timeout ran out).
    pub close: CancellationToken,
}

impl Conn {
    pub fn new(accepted: Instant) -> Conn {
        Conn {
            accepted,
            phase: AtomicU8::new(Phase::Fresh as u8),
            since_ms: AtomicU64::new(0),
            reading_ms: AtomicU64::new(0),
            changed: Notify::new(),
            close: CancellationToken::new(),
        }
    }

    pub fn phase(&self) -> Phase {
        match self.phase.load(Ordering::Acquire) {
            0 => Phase::Fresh,
            1 => Phase::InRequest,
            _ => Phase::Idle,
        }
    }

    fn elapsed_ms(&self) -> u64 {
        self.accepted.elapsed().as_millis() as u64
    }

    fn enter(&self, phase: Phase) {
        self.since_ms.store(self.elapsed_ms(), Ordering::Relaxed);
        self.reading_ms.store(0, Ordering::Relaxed);
        self.phase.store(phase as u8, Ordering::Release);
        self.changed.notify_one();
    }

    /// Bytes arrived: between requests, the first of them starts the next header timeout.
    fn bytes_arrived(&self) {
        if self.phase() == Phase::Idle && self.reading_ms.load(Ordering::Relaxed) == 0 {
            self.reading_ms
                .store(self.elapsed_ms() + 1, Ordering::Relaxed);
            self.changed.notify_one();
        }
    }

    /// When the connection is to be closed unless something happens first.
    fn deadline(&self, options: &ServerOptions) -> Option<Instant> {
        let at = |ms: u64, limit: Duration| Some(self.accepted + Duration::from_millis(ms) + limit);
        match self.phase() {
            Phase::Fresh => at(0, options.header_timeout),
            Phase::InRequest => None,
            Phase::Idle => match self.reading_ms.load(Ordering::Relaxed) {
                0 => at(self.since_ms.load(Ordering::Relaxed), options.idle_timeout),
                ms => at(ms - 1, options.header_timeout),
            },
        }
    }
}

/// The socket, telling its connection when bytes arrive.
struct Io {
    inner: TcpStream,
    conn: Arc<Conn>,
}

impl AsyncRead for Io {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.conn.bytes_arrived();
        }
        result
    }
}

impl AsyncWrite for Io {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Serves one connection until the client closes it, a timeout or eviction closes it, or the
/// server stops.
pub(super) async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    conn: &Arc<Conn>,
    app: Router,
    options: &ServerOptions,
    stopping: &CancellationToken,
) {
    let io = Io {
        inner: stream,
        conn: conn.clone(),
    };
    let Some(config) = &options.tls else {
        return http(io, peer, conn, app, options, stopping).await;
    };
    let handshake = tokio::time::timeout_at(
        (conn.accepted + options.header_timeout).into(),
        TlsAcceptor::from(config.clone()).accept(io),
    );
    let stream = tokio::select! {
        done = handshake => match done {
            Ok(Ok(stream)) => stream,
            Ok(Err(error)) => return tracing::debug!(%peer, %error, "API TLS handshake failed"),
            Err(_) => return tracing::debug!(%peer, "API TLS handshake timed out"),
        },
        () = conn.close.cancelled() => return,
        () = stopping.cancelled() => return,
    };
    http(stream, peer, conn, app, options, stopping).await
}

async fn http<I>(
    io: I,
    peer: SocketAddr,
    conn: &Arc<Conn>,
    app: Router,
    options: &ServerOptions,
    stopping: &CancellationToken,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let body_timeout = options.body_timeout;
    let service = {
        let conn = conn.clone();
        hyper::service::service_fn(move |mut request: Request<Incoming>| {
            conn.enter(Phase::InRequest);
            let extensions = request.extensions_mut();
            extensions.insert(ConnectInfo(peer));
            extensions.insert(BodyDeadline(Instant::now() + body_timeout));
            let (app, conn) = (app.clone(), conn.clone());
            async move {
                let response = app.oneshot(request.map(Body::new)).await;
                conn.enter(Phase::Idle);
                response
            }
        })
    };
    let http = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        // The watchdog below times headers: hyper's timer would also cut idle keep-alive.
        .header_read_timeout(None)
        .serve_connection(TokioIo::new(io), service);
    tokio::pin!(http);
    let mut draining = false;
    loop {
        let deadline = conn.deadline(options);
        let timer = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => pending().await,
            }
        };
        tokio::select! {
            done = http.as_mut() => {
                if let Err(error) = done {
                    tracing::debug!(%peer, %error, "API connection failed");
                }
                return;
            }
            () = timer => {
                if conn.deadline(options).is_some_and(|at| at <= Instant::now()) {
                    tracing::debug!(%peer, phase = ?conn.phase(), "API connection timed out");
                    return;
                }
            }
            () = conn.changed.notified() => {}
            () = conn.close.cancelled() => return,
            () = stopping.cancelled(), if !draining => {
                if conn.phase() != Phase::InRequest {
                    return;
                }
                // Answer the request in progress, then close.
                http.as_mut().graceful_shutdown();
                draining = true;
            }
        }
    }
}
