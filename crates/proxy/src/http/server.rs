//! An `http` or `https` app's client connection: HTTP/1.1 at the edge (hyper), or for `https`
//! TLS then HTTP/2 or HTTP/1.1 by ALPN; each request's headers rewritten and sent on (see
//! `upstream`), bodies streamed both ways, upgrades (WebSocket and any other) passed through
//! as bytes, the edge's own 502/504 pages, and a log line per request.

use super::body::{self, Body, Counted};
use super::exchange::Exchange;
use super::headers;
use super::page::error_page;
use super::pool::Pool;
use super::upstream::Answered;
use crate::runtime::context::{AppShared, Settings};
use crate::tcp::log::{log, with_progress, Events};
use crate::telemetry::access_log::{log_time, RequestEvent};
use crate::telemetry::counted::{ByteCounts, Counted as CountedIo};
use crate::telemetry::outcome::{relay_status, FILTERED};
use crate::tls::relay::Relay;
use crate::tls::session::accept;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::header::HOST;
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper::{Request, Response, StatusCode, Version};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use model::TrafficType;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// Serves the client's requests until it closes; the connection's outcome for its log line.
pub(crate) async fn serve(
    client: TcpStream,
    peer: SocketAddr,
    edge: SocketAddr,
    settings: Arc<Settings>,
    app: Arc<AppShared>,
) {
    let connected_at = chrono::Utc::now();
    let mut events = Events::new(&*app, peer.ip());
    if !app.node.admits(&settings.app, peer.ip()) {
        tracing::info!("client refused by the zone's IP Access Rules");
        app.node
            .counters
            .clients_filtered
            .fetch_add(1, Ordering::Relaxed);
        let outcome = ("clientFiltered", FILTERED, None, 0, 0);
        events.end(&outcome);
        log(&app, &settings, peer, connected_at, outcome);
        return;
    }
    events.connect();
    let private = settings
        .proxy_header(peer, edge)
        .map(|_| Arc::new(Pool::default()));
    let https = settings.app.config.traffic_type == TrafficType::Https;
    let exchange = Arc::new(Exchange {
        settings: settings.clone(),
        app: app.clone(),
        peer,
        edge,
        private,
        upgraded: Mutex::new(None),
        last_origin: Mutex::new(None),
        proto: if https { "https" } else { "http" },
    });
    // Bytes as the client sent and received them (for https, decrypted).
    let counts = Arc::new(ByteCounts::default());
    let serving = async {
        match (https, &settings.tls) {
            (false, _) => Ok(serve_http1(CountedIo::new(client, counts.clone()), &exchange).await),
            (true, Some(tls)) => match accept(client, tls, &app).await {
                Err(outcome) => Err(outcome),
                Ok(stream) => {
                    let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
                    let stream = CountedIo::new(stream, counts.clone());
                    Ok(if h2 {
                        serve_http2(stream, &exchange).await
                    } else {
                        serve_http1(stream, &exchange).await
                    })
                }
            },
            (true, None) => Ok(540),
        }
    };
    let outcome = match with_progress(serving, &counts, &mut events).await {
        Err(outcome) => outcome,
        Ok(status) => {
            let origin = *exchange
                .last_origin
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let (up, down) = counts.get();
            ("disconnect", status, origin, up, down)
        }
    };
    events.end(&outcome);
    log(&app, &settings, peer, connected_at, outcome);
}

/// Each request of the connection, answered by `exchange`.
fn service(
    exchange: &Arc<Exchange>,
) -> impl hyper::service::Service<
    Request<Incoming>,
    Response = Response<Body>,
    Error = Infallible,
    Future = impl std::future::Future<Output = Result<Response<Body>, Infallible>> + Send,
> + Clone {
    let ex = exchange.clone();
    hyper::service::service_fn(move |request| {
        let ex = ex.clone();
        async move { Ok::<_, Infallible>(ex.handle(request).await) }
    })
}

/// HTTP/1.1 on `io` until the client closes; an agreed upgrade is relayed after. Its status.
async fn serve_http1<IO>(io: IO, exchange: &Arc<Exchange>) -> u16
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let served = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(exchange.app.node.options.tcp_idle_timeout)
        .serve_connection(TokioIo::new(io), service(exchange))
        .with_upgrades()
        .await;
    let mut status = 200;
    if let Err(error) = served {
        tracing::debug!(%error, "client connection ended with an error");
        status = 499;
    }
    let upgrade = exchange
        .upgraded
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take();
    if let Some((client, origin)) = upgrade {
        status = relay_upgraded(client, origin).await;
    }
    status
}

/// HTTP/2 (chosen by ALPN) on `io` until the client closes. Its status.
async fn serve_http2<IO>(io: IO, exchange: &Arc<Exchange>) -> u16
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let served = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        .serve_connection(TokioIo::new(io), service(exchange))
        .await;
    match served {
        Ok(()) => 200,
        Err(error) => {
            tracing::debug!(%error, "HTTP/2 client connection ended with an error");
            499
        }
    }
}

/// Bytes both ways between the two upgraded connections until both are done.
async fn relay_upgraded(client: OnUpgrade, origin: OnUpgrade) -> u16 {
    let (client, origin): (Upgraded, Upgraded) = match tokio::try_join!(client, origin) {
        Ok(both) => both,
        Err(error) => {
            tracing::debug!(%error, "upgrade failed");
            return 502;
        }
    };
    // The relay of TLS apps: no buffer held while the upgraded connection is idle.
    match Relay::new(TokioIo::new(client), TokioIo::new(origin)).await {
        Ok(_) => 200,
        Err((side, error)) => {
            tracing::debug!(?side, %error, "upgraded relay failed");
            relay_status(side, &error)
        }
    }
}

impl Exchange {
    async fn handle(&self, mut request: Request<Incoming>) -> Response<Body> {
        let started = Instant::now();
        let ray = headers::ray_id(rand::random(), &self.app.node.options.colo);
        // What the log line names: read only when the log is on.
        let described = self.app.node.access_log.as_ref().map(|_| Described {
            method: request.method().to_string(),
            host: request
                .headers()
                .get(HOST)
                .and_then(|h| h.to_str().ok())
                .or_else(|| request.uri().host())
                .unwrap_or_default()
                .to_owned(),
            path: request.uri().path().to_owned(),
        });
        let upgrade = headers::upgrade(request.headers());
        let client_upgrade = upgrade.as_ref().map(|_| hyper::upgrade::on(&mut request));
        // HTTP/2 names the host in the URI (`:authority`): the origin gets it as `Host`.
        if !request.headers().contains_key(HOST) {
            if let Some(authority) = request.uri().authority().cloned() {
                if let Ok(value) = authority.as_str().parse() {
                    request.headers_mut().insert(HOST, value);
                }
            }
        }
        headers::to_origin(
            request.headers_mut(),
            self.peer.ip(),
            self.proto,
            &ray,
            upgrade.clone(),
        );
        // Origin-form to the origin, whatever form the client used.
        if let Some(pq) = request.uri().path_and_query().cloned() {
            *request.uri_mut() = pq.as_str().parse().unwrap_or_default();
        }
        *request.version_mut() = Version::HTTP_11;
        let (parts, incoming) = request.into_parts();
        let request = Request::from_parts(parts, incoming.boxed());
        let Answered {
            mut response,
            origin,
            sender,
        } = match self.forward(request).await {
            Ok(answered) => answered,
            Err(status) => {
                let page = error_page(status, &ray);
                let mut response = Response::new(body::full(page));
                *response.status_mut() = status;
                response
                    .headers_mut()
                    .insert("content-type", "text/html; charset=utf-8".parse().unwrap());
                headers::to_client(response.headers_mut(), &ray, None);
                return self.finish(response, ray, described, None, None, started);
            }
        };
        let switching = response.status() == StatusCode::SWITCHING_PROTOCOLS;
        if let (true, Some(client_upgrade)) = (switching, client_upgrade) {
            let origin_upgrade = hyper::upgrade::on(&mut response);
            *self.upgraded.lock().unwrap_or_else(|e| e.into_inner()) =
                Some((client_upgrade, origin_upgrade));
        }
        headers::to_client(
            response.headers_mut(),
            &ray,
            if switching { upgrade } else { None },
        );
        let (parts, incoming) = response.into_parts();
        let response = Response::from_parts(parts, incoming.boxed());
        let reuse = sender.map(|sender| (self.pool().clone(), sender));
        self.finish(response, ray, described, Some(origin), reuse, started)
    }

    /// The response, with what its end does (one body wrapper for both): the request's log
    /// line (when the log is on), and its origin connection back to the pool once the body has
    /// ended whole, so that a client's next request finds it there.
    fn finish(
        &self,
        response: Response<Body>,
        ray: String,
        described: Option<Described>,
        origin: Option<SocketAddr>,
        reuse: Option<(Arc<Pool>, SendRequest<Body>)>,
        started: Instant,
    ) -> Response<Body> {
        *self.last_origin.lock().unwrap_or_else(|e| e.into_inner()) = origin;
        let log = self
            .app
            .node
            .access_log
            .clone()
            .zip(described)
            .map(|(log, d)| {
                let event = RequestEvent {
                    timestamp: String::new(),
                    event: "request",
                    application: self.app.id.clone(),
                    colo_code: self.app.node.options.colo.clone(),
                    ray_id: ray,
                    client_ip: self.peer.ip(),
                    method: d.method,
                    host: d.host,
                    path: d.path,
                    status: response.status().as_u16(),
                    bytes: 0,
                    origin_ip: origin.map(|o| o.ip()),
                    duration_ms: 0,
                };
                (log, event)
            });
        if log.is_none() && reuse.is_none() {
            return response;
        }
        let on_end = Box::new(move |bytes, whole| {
            if let (true, Some((pool, sender)), Some(origin)) = (whole, reuse, origin) {
                pool.put(origin, sender);
            }
            if let Some((log, mut event)) = log {
                event.bytes = bytes;
                event.duration_ms = started.elapsed().as_millis() as u64;
                event.timestamp = log_time(chrono::Utc::now());
                log.write(&event);
            }
        });
        let (parts, inner) = response.into_parts();
        Response::from_parts(parts, Counted::new(inner, on_end).boxed())
    }
}

/// What a request's log line names of it.
struct Described {
    method: String,
    host: String,
    path: String,
}
