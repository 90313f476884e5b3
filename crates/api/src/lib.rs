//! Spectra's Cloudflare v4 API: the axum router, the envelope, auth and the handlers, all under `/client/v4`.

mod access_rules;
mod analytics;
mod apps;
mod auth;
mod certificates;
mod degraded;
mod dns_records;
mod envelope;
mod extract;
#[cfg(test)]
mod fuzz_tests;
mod metrics;
mod nodes;
mod placement;
mod rate_limit;
mod server;
mod zones;

pub use envelope::ApiError;
pub use metrics::ApiMetrics;
pub use rate_limit::RateLimit;
pub use server::{serve_with, tls_config, ServerOptions};

use axum::extract::DefaultBodyLimit;
use axum::http::{StatusCode, Uri};
use axum::routing::get;
use axum::Router;
use model::{Policy, StatusSource};
use std::future::Future;
use std::sync::Arc;
use store::Store;
use tokio::net::TcpListener;
use tokio::sync::{Mutex, Notify};
use tower_http::trace::TraceLayer;

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    store: Arc<dyn Store>,
    policy: Arc<Policy>,
    /// Serializes app writes, so the checks an app write makes against the stored apps
    /// hold until it commits.
    app_writes: Arc<Mutex<()>>,
    /// Woken after every committed configuration change.
    committed: Arc<Notify>,
    /// The data plane's view of listeners, for the status extension.
    status: Arc<dyn StatusSource>,
    /// `--api-rate-limit`, when set.
    limiter: Option<Arc<rate_limit::Limiter>>,
    /// The configuration the node serves, where new apps are placed.
    served: placement::Served,
    /// What DNS publishes, for `dns_records` and the status extension.
    publication: tokio::sync::watch::Receiver<Arc<model::Publication>>,
    /// How updates to another DNS server are going.
    dns_update: tokio::sync::watch::Receiver<model::DnsUpdateState>,
    /// The data plane's analytics not yet in the store, and this node's name there.
    analytics: Option<(Arc<dyn model::analytics::LiveAnalytics>, String)>,
    /// Requests and store writes, for Prometheus.
    metrics: ApiMetrics,
    /// More routes beside `/client/v4` (the dashboard's).
    extra_routes: Option<fn() -> Router<ApiState>>,
}

/// The status of a node without a data plane: no listeners anywhere.
struct NoDataPlane;

impl StatusSource for NoDataPlane {
    fn listeners(&self, _app_id: &str) -> Vec<model::ListenerStatus> {
        Vec::new()
    }
}

impl ApiState {
    pub fn new(store: Arc<dyn Store>, policy: Policy) -> Self {
        ApiState {
            store,
            policy: Arc::new(policy),
            app_writes: Arc::default(),
            committed: Arc::default(),
            status: Arc::new(NoDataPlane),
            limiter: None,
            served: Default::default(),
            publication: tokio::sync::watch::channel(Arc::default()).1,
            dns_update: tokio::sync::watch::channel(Default::default()).1,
            analytics: None,
            metrics: ApiMetrics::default(),
            extra_routes: None,
        }
    }

    /// Where the DNS publication, and the state of updates to another server, are read from.
    pub fn with_publication(
        mut self,
        publication: tokio::sync::watch::Receiver<Arc<model::Publication>>,
        dns_update: tokio::sync::watch::Receiver<model::DnsUpdateState>,
    ) -> Self {
        self.publication = publication;
        self.dns_update = dns_update;
        self
    }

    /// Where the node publishes the configuration it serves (with its own addresses for other
    /// nodes' apps): new apps are placed in it. Without, the store's snapshot is read per write.
    pub fn with_served(
        mut self,
        snapshots: tokio::sync::watch::Receiver<Arc<model::Snapshot>>,
    ) -> Self {
        self.served = placement::Served::new(snapshots);
        self
    }

    /// Where the analytics API reads what the store does not hold yet: the minutes in this
    /// node's memory (`node` names them in the store) and the connections open now.
    pub fn with_analytics(
        mut self,
        live: Arc<dyn model::analytics::LiveAnalytics>,
        node: impl Into<String>,
    ) -> Self {
        self.analytics = Some((live, node.into()));
        self
    }

    /// Serves `routes()` beside `/client/v4` (the dashboard's pages), under the same limits.
    pub fn with_routes(mut self, routes: fn() -> Router<ApiState>) -> Self {
        self.extra_routes = Some(routes);
        self
    }

    /// The API's metrics (to register with the node's Prometheus registry).
    pub fn metrics(&self) -> ApiMetrics {
        self.metrics.clone()
    }

    /// Limits each credential (or client address, without one) to `limit`.
    pub fn with_rate_limit(mut self, limit: RateLimit) -> Self {
        self.limiter = Some(Arc::new(rate_limit::Limiter::new(limit)));
        self
    }

    /// Where `GET .../apps/{id}/status` reads listener states from.
    pub fn with_status(mut self, status: Arc<dyn StatusSource>) -> Self {
        self.status = status;
        self
    }

    /// Notified after each configuration change this API commits.
    pub fn committed(&self) -> Arc<Notify> {
        self.committed.clone()
    }

    /// Runs a blocking store call that changes the configuration, timed for the metrics.
    async fn store_write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn Store) -> store::Result<T> + Send + 'static,
    ) -> Result<T, ApiError> {
        let started = std::time::Instant::now();
        let result = self.store(f).await;
        self.metrics
            .store_write("config", started.elapsed().as_secs_f64());
        result
    }

    /// Runs a blocking store call off the async workers.
    async fn store<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn Store) -> store::Result<T> + Send + 'static,
    ) -> Result<T, ApiError> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || f(&*store))
            .await
            .map_err(|e| ApiError::internal(format!("internal error: store task failed: {e}")))?
            .map_err(ApiError::from)
    }
}

/// The whole API, rooted at `/client/v4`.
pub fn router(state: ApiState) -> Router {
    let v4 = Router::new()
        .route("/zones", get(zones::list).post(zones::create))
        .route("/zones/{zone_id}", get(zones::get).delete(zones::delete))
        .route(
            "/zones/{zone_id}/spectrum/apps",
            get(apps::list).post(apps::create),
        )
        .route(
            "/zones/{zone_id}/spectrum/apps/{app_id}",
            get(apps::get).put(apps::update).delete(apps::delete),
        )
        .route(
            "/zones/{zone_id}/spectrum/apps/{app_id}/status",
            get(apps::status),
        )
        .route("/zones/{zone_id}/spectrum/protocols", get(apps::protocols))
        .route(
            "/zones/{zone_id}/spectrum/analytics/aggregate/current",
            get(analytics::current),
        )
        .route(
            "/zones/{zone_id}/spectrum/analytics/events/summary",
            get(analytics::summary),
        )
        .route(
            "/zones/{zone_id}/spectrum/analytics/events/bytime",
            get(analytics::bytime),
        )
        .route("/zones/{zone_id}/dns_records", get(dns_records::list))
        .route(
            "/zones/{zone_id}/firewall/access_rules/rules",
            get(access_rules::list).post(access_rules::create),
        )
        .route(
            "/zones/{zone_id}/firewall/access_rules/rules/{rule_id}",
            get(access_rules::get_one)
                .patch(access_rules::edit)
                .delete(access_rules::delete),
        )
        .route(
            "/zones/{zone_id}/custom_certificates",
            get(certificates::list).post(certificates::create),
        )
        .route(
            "/zones/{zone_id}/custom_certificates/{certificate_id}",
            get(certificates::get_one)
                .patch(certificates::edit)
                .delete(certificates::delete),
        )
        .route("/user/tokens/verify", get(zones::verify_token))
        .route("/spectra/nodes", get(nodes::list))
        .route_layer(axum::middleware::from_fn_with_state(
            state.metrics.clone(),
            metrics::record,
        ));
    let mut app = Router::new().nest("/client/v4", v4);
    if let Some(routes) = state.extra_routes {
        app = app.merge(routes());
    }
    app.fallback(no_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            degraded::note,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            rate_limit::check,
        ))
        .layer(DefaultBodyLimit::max(extract::MAX_BODY))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

async fn no_route(uri: Uri) -> ApiError {
    ApiError::not_found(7003, format!("No route for the URI {}", uri.path()))
}

async fn method_not_allowed(uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        7001,
        format!("Method not allowed for the URI {}", uri.path()),
    )
}

/// Serves the API on an already-bound listener with the default `ServerOptions` until
/// `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    state: ApiState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, state, ServerOptions::default(), shutdown).await
}
