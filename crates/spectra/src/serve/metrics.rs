//! `--metrics-listen`: Prometheus metrics at `/metrics`, in the OpenMetrics text format: the
//! data plane's (per app), the API's and the store's.

use axum::http::header::CONTENT_TYPE;
use axum::routing::get;
use axum::Router;
use prometheus_client::registry::Registry;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

async fn scrape(registry: Arc<Registry>) -> ([(axum::http::HeaderName, &'static str); 1], String) {
    let mut text = String::new();
    if let Err(error) = prometheus_client::encoding::text::encode(&mut text, &registry) {
        tracing::error!(%error, "cannot encode the metrics");
    }
    ([(CONTENT_TYPE, OPENMETRICS)], text)
}

/// Serves `registry` on `addr` until `shutdown`; prints where, after the API's line.
pub async fn start(
    addr: SocketAddr,
    registry: Registry,
    shutdown: CancellationToken,
) -> anyhow::Result<JoinHandle<()>> {
    use anyhow::Context;
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on --metrics-listen {addr}"))?;
    let bound = listener.local_addr()?;
    let registry = Arc::new(registry);
    let app = Router::new().route("/metrics", get(move || scrape(registry.clone())));
    println!("Spectra metrics on http://{bound}/metrics");
    tracing::info!(addr = %bound, "metrics listening");
    Ok(tokio::spawn(async move {
        let stopped = async move { shutdown.cancelled().await };
        if let Err(error) = axum::serve(listener, app)
            .with_graceful_shutdown(stopped)
            .await
        {
            tracing::error!(%error, "metrics server failed");
        }
    }))
}
