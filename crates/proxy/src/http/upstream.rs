//! The origin side of an `http` or `https` app: a request sent over a pooled keep-alive
//! connection or a new one (PROXY header first, TLS as the app's `tls` says), retried once on
//! a new connection when a pooled one turns out closed; 502 and 504 when the origin fails.

use super::body::{self, Body};
use super::exchange::Exchange;
use crate::runtime::context::Settings;
use crate::tcp::connect::{connect, tune};
use hyper::body::{Body as _, Incoming};
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use socket2::SockRef;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

impl Exchange {
    /// Sends `request` over a pooled or new origin connection: the response, or 502/504.
    pub async fn forward(
        &self,
        request: Request<Body>,
    ) -> Result<(Response<Incoming>, SocketAddr), StatusCode> {
        let retry = request.body().is_end_stream().then(|| {
            let mut copy = Request::new(body::empty());
            *copy.method_mut() = request.method().clone();
            *copy.uri_mut() = request.uri().clone();
            *copy.headers_mut() = request.headers().clone();
            copy
        });
        let (pooled, (origin, sender)) = match self.pool().take() {
            Some(idle) => (true, idle),
            None => (false, self.connect().await?),
        };
        match self.send(origin, sender, request).await {
            // A pooled connection the origin closed meanwhile: once more, on a new one.
            Err(StatusCode::BAD_GATEWAY) if pooled && retry.is_some() => {
                let (origin, sender) = self.connect().await?;
                self.send(origin, sender, retry.unwrap_or_default()).await
            }
            other => other,
        }
    }

    async fn send(
        &self,
        origin: SocketAddr,
        mut sender: SendRequest<Body>,
        request: Request<Body>,
    ) -> Result<(Response<Incoming>, SocketAddr), StatusCode> {
        let wait = self.app.node.options.http_origin_timeout;
        let response = match tokio::time::timeout(wait, sender.send_request(request)).await {
            Err(_) => {
                tracing::warn!(%origin, "origin did not answer in time");
                return Err(StatusCode::GATEWAY_TIMEOUT);
            }
            Ok(Err(error)) => {
                tracing::warn!(%origin, %error, "origin request failed");
                return Err(StatusCode::BAD_GATEWAY);
            }
            Ok(Ok(response)) => response,
        };
        if response.status() != StatusCode::SWITCHING_PROTOCOLS {
            // Back to the pool once this response's body has been read.
            let pool = self.pool().clone();
            tokio::spawn(async move {
                if sender.ready().await.is_ok() {
                    pool.put(origin, sender);
                }
            });
        }
        Ok((response, origin))
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
