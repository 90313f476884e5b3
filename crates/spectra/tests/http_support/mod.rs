//! The HTTP origin and app helpers of the `http` and `https` app tests.
#![allow(dead_code)]

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub type Body = http_body_util::combinators::BoxBody<Bytes, Infallible>;

/// An HTTP origin on loopback: `/headers` answers the request's headers as JSON, `/slow`
/// after 2 s, `/big?mb=N` N MiB in chunks, `POST /count` the body's length, `/ws` upgrades and
/// echoes. Counts the connections it accepted.
pub struct Origin {
    pub addr: SocketAddr,
    pub connections: Arc<AtomicUsize>,
}

pub async fn origin() -> Origin {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let count = connections.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                serve_origin(stream).await;
            });
        }
    });
    Origin { addr, connections }
}

fn full(body: impl Into<Bytes>) -> Body {
    Full::new(body.into()).boxed()
}

pub async fn answer(mut request: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let path = request.uri().path().to_owned();
    let response = match path.as_str() {
        "/headers" => {
            let headers: serde_json::Map<String, Value> = request
                .headers()
                .iter()
                .map(|(k, v)| (k.to_string(), json!(v.to_str().unwrap_or_default())))
                .collect();
            let mut r = Response::new(full(Value::Object(headers).to_string()));
            r.headers_mut()
                .insert("connection", "keep-alive, x-origin-secret".parse().unwrap());
            r.headers_mut()
                .insert("x-origin-secret", "1".parse().unwrap());
            r
        }
        "/slow" => {
            tokio::time::sleep(Duration::from_secs(2)).await;
            Response::new(full("late"))
        }
        "/big" => {
            let mb: usize = request
                .uri()
                .query()
                .and_then(|q| q.strip_prefix("mb="))
                .and_then(|n| n.parse().ok())
                .unwrap_or(1);
            let chunks = (0..mb * 16)
                .map(|_| Ok::<_, Infallible>(Frame::data(Bytes::from(vec![b'x'; 65536]))));
            Response::new(StreamBody::new(futures_util::stream::iter(chunks)).boxed())
        }
        "/count" => {
            let body = request
                .body_mut()
                .collect()
                .await
                .map(|b| b.to_bytes().len())
                .unwrap_or(0);
            Response::new(full(body.to_string()))
        }
        "/ws" => {
            let upgrade = hyper::upgrade::on(&mut request);
            tokio::spawn(async move {
                if let Ok(upgraded) = upgrade.await {
                    let mut io = TokioIo::new(upgraded);
                    let mut buf = [0u8; 1024];
                    while let Ok(n) = io.read(&mut buf).await {
                        if n == 0 || io.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                }
            });
            let mut r = Response::new(full(Bytes::new()));
            *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
            r.headers_mut()
                .insert("connection", "upgrade".parse().unwrap());
            r.headers_mut()
                .insert("upgrade", "websocket".parse().unwrap());
            r
        }
        _ => {
            let mut r = Response::new(full("no such path"));
            *r.status_mut() = StatusCode::NOT_FOUND;
            r
        }
    };
    Ok(response)
}

pub fn http_app(name: &str, port: u16, origins: &[SocketAddr], edge: &str) -> Value {
    let origins: Vec<String> = origins.iter().map(|o| format!("tcp://{o}")).collect();
    json!({"protocol": format!("tcp/{port}"), "dns": {"type": "ADDRESS", "name": name}, "traffic_type": "http",
           "origin_direct": origins, "edge_ips": {"type": "static", "ips": [edge]}})
}

/// Waits until the edge accepts connections.
pub async fn up(edge: &str) {
    for _ in 0..100 {
        if TcpStream::connect(edge).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{edge} never came up");
}

/// Answers HTTP/1.1 requests on `io` as the test origin does.
pub async fn serve_origin<IO>(io: IO)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(answer);
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades()
        .await;
}
