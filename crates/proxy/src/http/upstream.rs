//! The origin side of an `http` or `https` app: a request sent over a pooled keep-alive
//! connection or a new one (PROXY header first, TLS as the app's `tls` says), sent again on a
//! new connection when a pooled one had closed before it went out; 502 and 504 when the origin
//! fails.

use super::body::Body;
use super::exchange::Exchange;
use crate::runtime::context::Settings;
use crate::tcp::connect::{connect, tune};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use socket2::SockRef;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

/// Why a request got no response: the edge's status for it, or the request itself, back
/// unsent (its connection had closed), to send on another.
enum Unsent {
    Status(StatusCode),
    Back(Box<Request<Body>>),
}

impl Unsent {
    fn status(self) -> StatusCode {
        match self {
            Unsent::Status(status) => status,
            Unsent::Back(_) => StatusCode::BAD_GATEWAY,
        }
    }
}

/// An origin's response, from which origin, and its connection for the pool once the
/// response has ended (none for an upgrade).
pub(crate) struct Answered {
    pub response: Response<Incoming>,
    pub origin: SocketAddr,
    pub sender: Option<SendRequest<Body>>,
}

impl Exchange {
    /// Sends `request` over a pooled or new origin connection: the response, or 502/504.
    pub async fn forward(&self, request: Request<Body>) -> Result<Answered, StatusCode> {
        let idle = match self.pool().take() {
            // Ready once the origin connection has taken in its last response's end.
            Some((origin, mut sender)) => sender.ready().await.ok().map(|()| (origin, sender)),
            None => None,
        };
        let (pooled, (origin, sender)) = match idle {
            Some(idle) => (true, idle),
            None => (false, self.connect().await?),
        };
        match self.send(origin, sender, request).await {
            Ok(answered) => Ok(answered),
            // A pooled connection that closed before the request went out: on a new one.
            Err(Unsent::Back(request)) if pooled => {
                let (origin, sender) = self.connect().await?;
                self.send(origin, sender, *request)
                    .await
                    .map_err(Unsent::status)
            }
            Err(failed) => Err(failed.status()),
        }
    }

    async fn send(
        &self,
        origin: SocketAddr,
        mut sender: SendRequest<Body>,
        request: Request<Body>,
    ) -> Result<Answered, Unsent> {
        let wait = self.app.node.options.http_origin_timeout;
        let response = match tokio::time::timeout(wait, sender.try_send_request(request)).await {
            Err(_) => {
                tracing::warn!(%origin, "origin did not answer in time");
                return Err(Unsent::Status(StatusCode::GATEWAY_TIMEOUT));
            }
            Ok(Err(mut error)) => {
                if let Some(request) = error.take_message() {
                    return Err(Unsent::Back(Box::new(request)));
                }
                tracing::warn!(%origin, error = %error.into_error(), "origin request failed");
                return Err(Unsent::Status(StatusCode::BAD_GATEWAY));
            }
            Ok(Ok(response)) => response,
        };
        // An upgraded connection is the client's from now on; any other goes back to the pool
        // when its response has ended whole.
        let reusable = response.status() != StatusCode::SWITCHING_PROTOCOLS;
        Ok(Answered {
            response,
            origin,
            sender: reusable.then_some(sender),
        })
    }

    /// A new origin connection (the PROXY header first, when the app sends one).
    async fn connect(&self) -> Result<(SocketAddr, SendRequest<Body>), StatusCode> {
        let budget = self.app.node.options.connect_timeout;
        let (mut stream, origin, active) = connect(&self.settings, self.edge, budget)
            .await
            .map_err(|(status, _)| {
                tracing::warn!(status, "no origin reachable");
                StatusCode::BAD_GATEWAY
            })?;
        tune(SockRef::from(&stream));
        if self.private.is_some() {
            if let Some(header) = self.settings.proxy_header(self.peer, self.edge) {
                stream
                    .write_all(&header)
                    .await
                    .map_err(|_| StatusCode::BAD_GATEWAY)?;
            }
        }
        let target = active.detach();
        let origin_tls = self.settings.tls.as_ref().and_then(|t| t.origin.clone());
        let sender = match origin_tls {
            None => handshake(stream, self.settings.clone(), target).await,
            Some((connector, name)) => {
                let budget = self.app.node.options.connect_timeout;
                match tokio::time::timeout(budget, connector.connect(name, stream)).await {
                    Ok(Ok(tls)) => handshake(tls, self.settings.clone(), target).await,
                    Ok(Err(error)) => {
                        tracing::warn!(%origin, %error, "origin TLS handshake failed");
                        self.settings.balancer().closed(target);
                        Err(StatusCode::BAD_GATEWAY)
                    }
                    Err(_) => {
                        self.settings.balancer().closed(target);
                        Err(StatusCode::GATEWAY_TIMEOUT)
                    }
                }
            }
        }?;
        Ok((origin, sender))
    }
}

/// An HTTP/1.1 client connection on `io`, driven in a task until it closes (then the balancer
/// hears that `target`'s connection ended).
async fn handshake<IO>(
    io: IO,
    settings: Arc<Settings>,
    target: SocketAddr,
) -> Result<SendRequest<Body>, StatusCode>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = match hyper::client::conn::http1::handshake(TokioIo::new(io)).await {
        Ok(handshaken) => handshaken,
        Err(error) => {
            tracing::warn!(%error, "origin HTTP handshake failed");
            settings.balancer().closed(target);
            return Err(StatusCode::BAD_GATEWAY);
        }
    };
    tokio::spawn(async move {
        if let Err(error) = connection.with_upgrades().await {
            tracing::debug!(%error, "origin connection ended with an error");
        }
        settings.balancer().closed(target);
    });
    Ok(sender)
}
