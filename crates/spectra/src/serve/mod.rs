//! `spectra serve`: the store, the API and the data plane wired together until SIGTERM.

mod analytics;
mod args;
#[cfg(test)]
mod config_keys;
mod dns;
mod dns_settings;
mod metrics;
mod settings;

pub(crate) use analytics::duration_with_unit;
pub use args::ServeArgs;
pub use settings::DEFAULT_DATA_DIR;

use crate::follow::follow;
use anyhow::Context;
use settings::Settings;
use socket2::{Domain, Socket, Type};
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use store::Store;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Pending API connections the kernel keeps for a burst.
const API_BACKLOG: i32 = 4096;
/// Threads for blocking store calls: more would only wait on the database's lock.
const BLOCKING_THREADS: usize = 64;

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    init_logging();
    let fd_limit = raise_fd_limit();
    let settings = settings::settings(args, fd_limit)?;
    // The API, the DNS server and the supervisor run here, on one thread; the edge's
    // connections too with one worker, else on worker threads of their own (proxy::Workers).
    // One thread measured ~15 % more connections per second than a one-worker multi-threaded
    // runtime (bench/README.md).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(BLOCKING_THREADS)
        .build()?;
    runtime.block_on(serve(settings))
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,hickory_server=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

/// Each proxied connection holds two descriptors: take as many as the system allows. Returns
/// the limit in force.
fn raise_fd_limit() -> u64 {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => {
            tracing::info!(limit, "file descriptor limit");
            limit
        }
        Err(error) => {
            tracing::warn!(%error, "cannot raise the file descriptor limit");
            rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft)
        }
    }
}

/// The API's listening socket, with a backlog sized for bursts.
fn bind_api(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(API_BACKLOG)?;
    TcpListener::from_std(socket.into())
}

/// Warns when the data dir (token hashes, keys) is open to other users.
fn check_data_dir(dir: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(dir) {
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o007 != 0 {
            tracing::warn!(data_dir = %dir.display(), mode = format!("{mode:o}"), "the data dir is readable by other users; chmod 700 it");
        }
    }
}

async fn serve(mut settings: Settings) -> anyhow::Result<()> {
    // Before anything says the node is up: a SIGTERM (or Ctrl-C) that follows at once is a
    // clean stop, not the default action's kill.
    use tokio::signal::unix::{signal, SignalKind};
    let stops = (
        signal(SignalKind::terminate()).context("installing a SIGTERM handler")?,
        signal(SignalKind::interrupt()).context("installing a SIGINT handler")?,
    );
    check_data_dir(&settings.data_dir);
    settings.options.tls = Arc::new(crate::tls_files::load(
        &settings.data_dir,
        settings.tls_cert_dir.as_deref(),
        settings.origin_ca.as_deref(),
    )?);
    if let Some(paths) = settings.geoip_db.take() {
        let geoip =
            proxy::GeoIp::open(paths).map_err(|e| anyhow::anyhow!("cannot read --geoip-db {e}"))?;
        settings.options.geoip = Some(Arc::new(geoip));
    }
    if let Some((cert, key)) = &settings.api_tls {
        let (chain, key) = crate::tls_files::certified(cert, key)?;
        settings.api.tls = Some(
            api::tls_config(chain, key)
                .map_err(|e| anyhow::anyhow!("unusable --api-tls-cert/--api-tls-key: {e}"))?,
        );
    }
    let store: Arc<dyn Store> = {
        let (url, dir) = (settings.store.clone(), settings.data_dir.clone());
        Arc::from(
            tokio::task::spawn_blocking(move || crate::stores::open(url.as_deref(), &dir))
                .await??,
        )
    };
    let access_log = match &settings.access_log {
        Some(path) => Some(
            proxy::AccessLog::open(path)
                .with_context(|| format!("cannot open access log {}", path.display()))?,
        ),
        None => None,
    };
    let drain_timeout = settings.options.drain_timeout;
    let writer = analytics::writer_name(&settings.node_name);
    let this_node = model::Node {
        name: settings.node_name.clone(),
        colo: settings.options.colo.clone(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        edge_pools: vec![settings.policy.ipv4_pool, settings.policy.ipv6_pool],
        started_on: chrono::Utc::now(),
        last_seen: chrono::Utc::now(),
        listeners: Default::default(),
    };
    let analytics = settings
        .analytics
        .enabled
        .then(|| proxy::Analytics::new(&settings.options.colo));
    if let Some(analytics) = &analytics {
        analytics.start();
    }
    let data_plane = proxy::DataPlane::new(settings.options, access_log, analytics.clone())
        .context("cannot start the edge's worker threads")?;
    let data_plane_metrics = data_plane.metrics();
    let board = data_plane.status();
    // With PostgreSQL, the configuration is also saved in the data dir, for a restart while
    // the database is away.
    let cache_dir = settings.store.is_some().then(|| settings.data_dir.clone());
    let crate::follow::Start {
        snapshot: first,
        mut local,
        credentials,
    } = {
        let (s, node, policy) = (
            store.clone(),
            settings.node_name.clone(),
            settings.policy.clone(),
        );
        let dir = cache_dir.clone();
        tokio::task::spawn_blocking(move || crate::follow::start(&*s, node, policy, dir.as_deref()))
            .await??
    };
    local.save(&store).await;
    tracing::info!(
        revision = first.revision,
        apps = first.apps.len(),
        "configuration loaded"
    );
    let (published, snapshots) = watch::channel(Arc::new(first));
    // With PostgreSQL, reads go on from the served configuration while the database is away.
    let copy = cache_dir.as_deref().map(|dir| {
        crate::cache::LocalCopy::new(dir, Arc::new(std::sync::RwLock::new(credentials)))
    });
    let api_store: Arc<dyn Store> = match &copy {
        Some(copy) => Arc::new(crate::fallback::Fallback::new(
            store.clone(),
            snapshots.clone(),
            copy.credentials.clone(),
        )),
        None => store.clone(),
    };
    let (publication_out, publication) = watch::channel(Arc::default());
    let (update_state, update_report) = watch::channel(model::DnsUpdateState::default());
    let mut state = api::ApiState::new(api_store, settings.policy)
        .with_status(data_plane.status())
        .with_publication(publication.clone(), update_report)
        .with_served(snapshots.clone());
    if let Some(analytics) = &analytics {
        state = state.with_analytics(analytics.clone(), writer.clone());
    }
    if settings.dashboard {
        state = state.with_routes(dashboard::routes::<api::ApiState>);
    }
    if let Some(limit) = settings.api_rate_limit {
        state = state.with_rate_limit(limit);
    }
    let shutdown = CancellationToken::new();
    let dns_updater = dns::start_updater(
        &settings.dns,
        &settings.data_dir,
        publication.clone(),
        update_state,
        shutdown.clone(),
    )?;
    let listener = bind_api(settings.api_listen)
        .with_context(|| format!("cannot listen on {}", settings.api_listen))?;
    let addr = listener.local_addr()?;
    let scheme = if settings.api.tls.is_some() {
        "https"
    } else {
        if !addr.ip().is_loopback() {
            tracing::warn!(%addr, "the API listens beyond loopback without TLS: tokens travel in clear (see --api-tls-cert)");
        }
        "http"
    };

    let follower = tokio::spawn(follow(
        store.clone(),
        local,
        copy,
        state.committed(),
        published,
        shutdown.clone(),
    ));
    let heartbeat = tokio::spawn(crate::heartbeat::run(
        store.clone(),
        this_node,
        data_plane.status(),
        shutdown.clone(),
    ));
    let publisher = tokio::spawn(crate::publisher::run(
        crate::publisher::Inputs {
            store: store.clone(),
            node_name: settings.node_name.clone(),
            snapshots: snapshots.clone(),
            board,
            ttl: settings.dns.zone.ttl,
            fleet: settings.store.is_some(),
        },
        publication_out,
        shutdown.clone(),
    ));
    let edge = tokio::spawn(data_plane.run(snapshots, shutdown.clone()));
    let api_metrics = state.metrics();
    let mut registry = prometheus_client::registry::Registry::default();
    registry.register_collector(Box::new(data_plane_metrics));
    api_metrics.register(&mut registry);
    let analytics_writer = tokio::spawn(analytics::run(
        store.clone(),
        analytics.clone(),
        writer.clone(),
        settings.analytics.retention,
        api_metrics.clone(),
        shutdown.clone(),
    ));

    let backend = if settings.store.is_some() {
        "postgres"
    } else {
        "sqlite"
    };
    tracing::info!(%addr, data_dir = %settings.data_dir.display(), store = backend, "API listening");
    println!("Spectra API listening on {scheme}://{addr}/client/v4");
    let dns_server =
        dns::start_server(&settings.dns, publication.clone(), shutdown.clone()).await?;
    let metrics_server = match settings.analytics.metrics_listen {
        Some(addr) => Some(metrics::start(addr, registry, shutdown.clone()).await?),
        None => None,
    };
    let stop = shutdown.clone();
    let api = tokio::spawn(api::serve_with(listener, state, settings.api, async move {
        stop.cancelled().await
    }));
    shutdown_signal(stops).await;
    shutdown.cancel();
    // Each part stops within the drain timeout; a little more for the last closes.
    let stopped = async {
        api.await??;
        follower.await?;
        heartbeat.await?;
        publisher.await?;
        for part in [dns_server, dns_updater, metrics_server]
            .into_iter()
            .flatten()
        {
            part.await?;
        }
        edge.await?;
        analytics_writer.await?;
        anyhow::Ok(())
    };
    match tokio::time::timeout(drain_timeout + Duration::from_secs(1), stopped).await {
        Ok(result) => result?,
        Err(_) => tracing::warn!("parts still running after the drain timeout; exiting anyway"),
    }
    // The connections have closed (or been cut): their last events are in.
    if let Some(analytics) = &analytics {
        analytics::write_last(&store, analytics, &writer, &api_metrics).await;
    }
    tracing::info!("stopped");
    Ok(())
}

/// Completes on SIGTERM or Ctrl-C (SIGINT).
async fn shutdown_signal(
    (mut term, mut interrupt): (tokio::signal::unix::Signal, tokio::signal::unix::Signal),
) {
    tokio::select! {
        _ = interrupt.recv() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down: draining connections");
}
