//! `spectra serve`: settings from flags and the optional TOML file, then the store, the API and
//! the data plane wired together until SIGTERM.

use crate::follow::follow;
use anyhow::Context;
use ipnet::IpNet;
use serde::Deserialize;
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use store::Store;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

pub const DEFAULT_DATA_DIR: &str = "./spectra-data";

/// Every setting of `serve`. Each flag has the same key in the `--config` TOML file; flags win.
#[derive(clap::Args, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ServeArgs {
    /// TOML file with the same keys as these flags (`data_dir`, `api_listen`, ...).
    #[arg(long)]
    #[serde(skip)]
    config: Option<PathBuf>,
    /// Directory of the embedded store [default: ./spectra-data]
    #[arg(long, env = "SPECTRA_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Address the API listens on [default: 127.0.0.1:8080]; port 0 picks a free port.
    #[arg(long)]
    api_listen: Option<SocketAddr>,
    /// Where dynamic apps get their IPv4 edge address [default: 127.0.1.0/24].
    #[arg(long)]
    edge_ipv4_pool: Option<IpNet>,
    /// Where dynamic apps get their IPv6 edge address [default: ::1/128].
    #[arg(long)]
    edge_ipv6_pool: Option<IpNet>,
    /// Where static edge IPs may lie, comma-separated [default: 127.0.0.0/8,::1/128].
    #[arg(long, value_delimiter = ',')]
    edge_static_allow: Option<Vec<IpNet>>,
    /// The most edge ports one app may span [default: 1024].
    #[arg(long)]
    max_ports_per_app: Option<u32>,
    /// Seconds to reach an origin, failover included [default: 10].
    #[arg(long)]
    connect_timeout: Option<f64>,
    /// Seconds a removed app's open connections may go on [default: 30].
    #[arg(long)]
    drain_timeout: Option<f64>,
    /// Open connections the node allows in all [default: 65536].
    #[arg(long)]
    max_connections: Option<usize>,
    /// JSON-lines connection log, one line per closed connection [default: off].
    #[arg(long)]
    access_log: Option<PathBuf>,
    /// DNS server (IP:PORT) for origin_dns names [default: the system's, from resolv.conf].
    #[arg(long)]
    resolver: Option<SocketAddr>,
    /// Keep origin DNS answers at most this many seconds, whatever an app's ttl [default: the app's ttl].
    #[arg(long)]
    origin_dns_max_ttl: Option<f64>,
    /// Seconds without a datagram either way after which a UDP flow ends [default: 60].
    #[arg(long)]
    udp_idle_timeout: Option<f64>,
    /// UDP flows the node allows in all; new flows beyond it are dropped [default: 65536].
    #[arg(long)]
    udp_max_flows: Option<usize>,
    /// Certificates for apps with `tls`: HOSTNAME.crt (chain, leaf first) with HOSTNAME.key
    /// [default: none; every hostname gets a certificate from the node CA in DATA_DIR/tls].
    #[arg(long)]
    tls_cert_dir: Option<PathBuf>,
    /// PEM file of roots an origin's certificate may chain to under `tls: strict`, besides the
    /// web PKI's.
    #[arg(long)]
    origin_ca: Option<PathBuf>,
    /// Threads that run the API and the data plane [default: the CPUs this process may use].
    /// With 1, a single-threaded runtime, without a work-stealing scheduler's bookkeeping.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    workers: Option<u16>,
}

impl ServeArgs {
    /// These flags, with what they leave unset taken from `file`.
    fn or(self, file: ServeArgs) -> ServeArgs {
        ServeArgs {
            config: self.config,
            data_dir: self.data_dir.or(file.data_dir),
            api_listen: self.api_listen.or(file.api_listen),
            edge_ipv4_pool: self.edge_ipv4_pool.or(file.edge_ipv4_pool),
            edge_ipv6_pool: self.edge_ipv6_pool.or(file.edge_ipv6_pool),
            edge_static_allow: self.edge_static_allow.or(file.edge_static_allow),
            max_ports_per_app: self.max_ports_per_app.or(file.max_ports_per_app),
            connect_timeout: self.connect_timeout.or(file.connect_timeout),
            drain_timeout: self.drain_timeout.or(file.drain_timeout),
            max_connections: self.max_connections.or(file.max_connections),
            access_log: self.access_log.or(file.access_log),
            resolver: self.resolver.or(file.resolver),
            origin_dns_max_ttl: self.origin_dns_max_ttl.or(file.origin_dns_max_ttl),
            udp_idle_timeout: self.udp_idle_timeout.or(file.udp_idle_timeout),
            udp_max_flows: self.udp_max_flows.or(file.udp_max_flows),
            workers: self.workers.or(file.workers),
            tls_cert_dir: self.tls_cert_dir.or(file.tls_cert_dir),
            origin_ca: self.origin_ca.or(file.origin_ca),
        }
    }
}

fn seconds(value: Option<f64>, default: Duration, flag: &str) -> anyhow::Result<Duration> {
    match value {
        None => Ok(default),
        Some(s) => Duration::try_from_secs_f64(s)
            .with_context(|| format!("--{flag} {s} is not a number of seconds")),
    }
}

/// The settings `serve` runs with, after flags, file and defaults.
struct Settings {
    data_dir: PathBuf,
    api_listen: SocketAddr,
    policy: model::Policy,
    options: proxy::Options,
    access_log: Option<PathBuf>,
    workers: usize,
    tls_cert_dir: Option<PathBuf>,
    origin_ca: Option<PathBuf>,
}

fn settings(args: ServeArgs) -> anyhow::Result<Settings> {
    let file = match &args.config {
        Some(path) => read_config(path)?,
        None => ServeArgs::default(),
    };
    let args = args.or(file);
    let policy_defaults = model::Policy::default();
    let option_defaults = proxy::Options::default();
    Ok(Settings {
        data_dir: args
            .data_dir
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
        api_listen: args
            .api_listen
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080))),
        policy: model::Policy {
            max_ports_per_app: args
                .max_ports_per_app
                .unwrap_or(policy_defaults.max_ports_per_app),
            static_edge_allow: args
                .edge_static_allow
                .unwrap_or(policy_defaults.static_edge_allow),
            ipv4_pool: check_family(args.edge_ipv4_pool, true)?
                .unwrap_or(policy_defaults.ipv4_pool),
            ipv6_pool: check_family(args.edge_ipv6_pool, false)?
                .unwrap_or(policy_defaults.ipv6_pool),
        },
        options: proxy::Options {
            connect_timeout: seconds(
                args.connect_timeout,
                option_defaults.connect_timeout,
                "connect-timeout",
            )?,
            drain_timeout: seconds(
                args.drain_timeout,
                option_defaults.drain_timeout,
                "drain-timeout",
            )?,
            max_connections: args
                .max_connections
                .unwrap_or(option_defaults.max_connections),
            udp_idle_timeout: seconds(
                args.udp_idle_timeout,
                option_defaults.udp_idle_timeout,
                "udp-idle-timeout",
            )?,
            udp_max_flows: args.udp_max_flows.unwrap_or(option_defaults.udp_max_flows),
            ..option_defaults
        },
        access_log: args.access_log,
        tls_cert_dir: args.tls_cert_dir,
        origin_ca: args.origin_ca,
        workers: match args.workers {
            Some(0) => anyhow::bail!("workers must be at least 1"),
            Some(n) => n.into(),
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        },
    })
}

fn check_family(pool: Option<IpNet>, v4: bool) -> anyhow::Result<Option<IpNet>> {
    match pool {
        Some(p) if matches!(p, IpNet::V4(_)) != v4 => {
            anyhow::bail!(
                "edge pool {p} is not an IPv{} prefix",
                if v4 { 4 } else { 6 }
            )
        }
        other => Ok(other),
    }
}

fn read_config(path: &Path) -> anyhow::Result<ServeArgs> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("invalid config file {}", path.display()))
}

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    init_logging();
    let settings = settings(args)?;
    raise_fd_limit();
    let runtime = if settings.workers == 1 {
        // One CPU: a single-threaded runtime measured ~15 % more connections per second than
        // a one-worker multi-threaded one (bench/README.md).
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(settings.workers)
            .enable_all()
            .build()?
    };
    runtime.block_on(serve(settings))
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

/// Each proxied connection holds two descriptors: take as many as the system allows.
fn raise_fd_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => tracing::info!(limit, "file descriptor limit"),
        Err(error) => tracing::warn!(%error, "cannot raise the file descriptor limit"),
    }
}

async fn serve(mut settings: Settings) -> anyhow::Result<()> {
    settings.options.tls = Arc::new(crate::tls_files::load(
        &settings.data_dir,
        settings.tls_cert_dir.as_deref(),
        settings.origin_ca.as_deref(),
    )?);
    let store: Arc<dyn Store> = Arc::new(
        store::SqliteStore::open(&settings.data_dir)
            .with_context(|| format!("cannot open the store in {}", settings.data_dir.display()))?,
    );
    let access_log = match &settings.access_log {
        Some(path) => Some(
            proxy::AccessLog::open(path)
                .with_context(|| format!("cannot open access log {}", path.display()))?,
        ),
        None => None,
    };
    let data_plane = proxy::DataPlane::new(settings.options, access_log);
    let state = api::ApiState::new(store.clone(), settings.policy).with_status(data_plane.status());
    let listener = TcpListener::bind(settings.api_listen)
        .await
        .with_context(|| format!("cannot listen on {}", settings.api_listen))?;
    let addr = listener.local_addr()?;

    let first = {
        let store = store.clone();
        tokio::task::spawn_blocking(move || store.snapshot()).await??
    };
    tracing::info!(
        revision = first.revision,
        apps = first.apps.len(),
        "configuration loaded"
    );
    let (published, snapshots) = watch::channel(Arc::new(first));
    let shutdown = CancellationToken::new();
    let follower = tokio::spawn(follow(
        store,
        state.committed(),
        published,
        shutdown.clone(),
    ));
    let edge = tokio::spawn(data_plane.run(snapshots, shutdown.clone()));

    tracing::info!(%addr, data_dir = %settings.data_dir.display(), "API listening");
    println!("Spectra API listening on http://{addr}/client/v4");
    let stop = shutdown.clone();
    let api = tokio::spawn(api::serve(listener, state, async move {
        stop.cancelled().await
    }));
    shutdown_signal().await;
    shutdown.cancel();
    api.await??;
    follower.await?;
    edge.await?;
    tracing::info!("stopped");
    Ok(())
}

/// Completes on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing a SIGTERM handler");
    tokio::select! {
        _ = ctrl_c => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down: draining connections");
}
