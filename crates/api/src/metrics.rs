//! The API's Prometheus metrics: requests by route, method and status with their latency, and
//! how long configuration writes take in the store.

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::time::Instant;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
    method: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WriteLabels {
    kind: &'static str,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// 0.5 ms to 16 s.
fn latency() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// The API's metrics; cheap to clone (each part shares its counters).
#[derive(Clone, Debug)]
pub struct ApiMetrics {
    requests: Family<RequestLabels, Counter>,
    durations: Histograms<RouteLabels>,
    store_writes: Histograms<WriteLabels>,
}

impl Default for ApiMetrics {
    fn default() -> Self {
        ApiMetrics {
            requests: Family::default(),
            durations: Family::new_with_constructor(latency),
            store_writes: Family::new_with_constructor(latency),
        }
    }
}

impl ApiMetrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "spectra_api_requests",
            "API requests by route, method and status",
            self.requests.clone(),
        );
        registry.register(
            "spectra_api_request_duration_seconds",
            "API request latency by route and method",
            self.durations.clone(),
        );
        registry.register(
            "spectra_store_write_duration_seconds",
            "Store write latency: configuration changes through the API, analytics minutes",
            self.store_writes.clone(),
        );
    }

    /// Counts a store write of `kind` (`config` or `analytics`) that took `seconds`.
    pub fn store_write(&self, kind: &'static str, seconds: f64) {
        self.store_writes
            .get_or_create(&WriteLabels { kind })
            .observe(seconds);
    }
}

/// Middleware of every matched route: counts the request and its latency.
pub(crate) async fn record(
    State(metrics): State<ApiMetrics>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(String::new, |p| p.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    metrics
        .durations
        .get_or_create(&RouteLabels {
            route: route.clone(),
            method: method.clone(),
        })
        .observe(started.elapsed().as_secs_f64());
    metrics
        .requests
        .get_or_create(&RequestLabels {
            route,
            method,
            status,
        })
        .inc();
    response
}
