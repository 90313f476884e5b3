//! The settings of `spectra serve`: its flags and config-file keys (`args.rs`) with their
//! defaults, checked and turned into what the store, the API and the data plane take.

use super::analytics::{analytics_settings, AnalyticsSettings};
use super::args::{read_config, ServeArgs};
use super::dns_settings::{dns_settings, DnsSettings};
use anyhow::Context;
use ipnet::IpNet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub const DEFAULT_DATA_DIR: &str = "./spectra-data";

fn seconds(value: Option<f64>, default: Duration, flag: &str) -> anyhow::Result<Duration> {
    match value {
        None => Ok(default),
        Some(s) => Duration::try_from_secs_f64(s)
            .with_context(|| format!("--{flag} {s} is not a number of seconds")),
    }
}

/// The settings `serve` runs with, after flags, file and defaults.
#[derive(Debug)]
pub struct Settings {
    pub node_name: String,
    pub data_dir: PathBuf,
    /// A PostgreSQL URL; `None`: SQLite in the data dir.
    pub store: Option<String>,
    pub api_listen: SocketAddr,
    pub policy: model::Policy,
    pub options: proxy::Options,
    pub api: api::ServerOptions,
    pub api_rate_limit: Option<api::RateLimit>,
    /// `--api-tls-cert` and `--api-tls-key`.
    pub api_tls: Option<(PathBuf, PathBuf)>,
    pub access_log: Option<PathBuf>,
    pub tls_cert_dir: Option<PathBuf>,
    pub origin_ca: Option<PathBuf>,
    pub geoip_db: Option<Vec<PathBuf>>,
    pub dns: DnsSettings,
    pub analytics: AnalyticsSettings,
    /// The web dashboard at `/` of the API address.
    pub dashboard: bool,
}

/// File descriptors kept aside for the store, logs, listeners and the like.
const SPARE_FDS: u64 = 256;

pub fn settings(args: ServeArgs, fd_limit: u64) -> anyhow::Result<Settings> {
    let file = match &args.config {
        Some(path) => read_config(path)?,
        None => ServeArgs::default(),
    };
    let args = args.or(file);
    let policy_defaults = model::Policy::default();
    let api = api_options(&args)?;
    let mut options = proxy_options(&args)?;
    options.workers = match args.workers {
        Some(0) => anyhow::bail!("workers must be at least 1"),
        Some(n) => n.into(),
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    fit_descriptors(
        &mut options,
        &api,
        fd_limit,
        args.max_connections_per_client.is_some(),
    );
    let node_name = match &args.node_name {
        Some(name) if name.trim().is_empty() => anyhow::bail!("--node-name must not be empty"),
        Some(name) => name.clone(),
        None => crate::heartbeat::host_name(),
    };
    let dns = dns_settings(&args, &node_name)?;
    let analytics = analytics_settings(&args)?;
    let api_tls = match (args.api_tls_cert, args.api_tls_key) {
        (Some(cert), Some(key)) => Some((cert, key)),
        (None, None) => None,
        _ => anyhow::bail!("api_tls_cert and api_tls_key go together"),
    };
    Ok(Settings {
        node_name,
        dns,
        analytics,
        dashboard: !args.no_dashboard,
        data_dir: args
            .data_dir
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
        store: args.store,
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
            geolocation: args.geoip_db.is_some(),
        },
        options,
        api,
        api_rate_limit: match &args.api_rate_limit {
            None => None,
            Some(text) => Some(
                text.parse()
                    .map_err(|e| anyhow::anyhow!("--api-rate-limit {e}"))?,
            ),
        },
        api_tls,
        access_log: args.access_log,
        tls_cert_dir: args.tls_cert_dir,
        origin_ca: args.origin_ca,
        geoip_db: args.geoip_db,
    })
}

/// The API server's options. Every field is named, as for `proxy_options`. The TLS
/// configuration is loaded in `serve`.
fn api_options(args: &ServeArgs) -> anyhow::Result<api::ServerOptions> {
    let defaults = api::ServerOptions::default();
    Ok(api::ServerOptions {
        header_timeout: seconds(
            args.api_header_timeout,
            defaults.header_timeout,
            "api-header-timeout",
        )?,
        body_timeout: seconds(
            args.api_body_timeout,
            defaults.body_timeout,
            "api-body-timeout",
        )?,
        idle_timeout: seconds(
            args.api_idle_timeout,
            defaults.idle_timeout,
            "api-idle-timeout",
        )?,
        max_connections: match args.api_max_connections {
            Some(0) => anyhow::bail!("api_max_connections must be at least 1"),
            Some(n) => n,
            None => defaults.max_connections,
        },
        drain_timeout: seconds(args.drain_timeout, defaults.drain_timeout, "drain-timeout")?,
        tls: None,
    })
}

/// Shares the process's file descriptors out: the API's connections and `SPARE_FDS` are kept
/// aside, and the data plane's caps (two per TCP connection, one per UDP flow) are lowered,
/// with a warning, to fit the rest. So neither side running out can lock the other out.
fn fit_descriptors(
    options: &mut proxy::Options,
    api: &api::ServerOptions,
    limit: u64,
    per_client_given: bool,
) {
    let budget = limit.saturating_sub(api.max_connections as u64 + SPARE_FDS);
    let need = 2 * options.max_connections as u64 + options.udp_max_flows as u64;
    if need <= budget {
        return;
    }
    let scale = budget as f64 / need as f64;
    let max_connections = ((options.max_connections as f64 * scale) as usize).max(1);
    let udp_max_flows = ((options.udp_max_flows as f64 * scale) as usize).max(1);
    tracing::warn!(
        fd_limit = limit,
        api_max_connections = api.max_connections,
        max_connections,
        udp_max_flows,
        "the file descriptor limit is too low for --max-connections and --udp-max-flows: lowered to fit"
    );
    options.max_connections = max_connections;
    options.udp_max_flows = udp_max_flows;
    if !per_client_given {
        options.max_connections_per_client = (max_connections / 16).max(1);
    }
    options.max_connections_per_client = options.max_connections_per_client.min(max_connections);
}

/// The data plane's options. Every field is named: a new one that is not set here does not compile.
fn proxy_options(args: &ServeArgs) -> anyhow::Result<proxy::Options> {
    let defaults = proxy::Options::default();
    let max_connections = args.max_connections.unwrap_or(defaults.max_connections);
    Ok(proxy::Options {
        connect_timeout: seconds(
            args.connect_timeout,
            defaults.connect_timeout,
            "connect-timeout",
        )?,
        drain_timeout: seconds(args.drain_timeout, defaults.drain_timeout, "drain-timeout")?,
        max_connections,
        max_connections_per_client: args
            .max_connections_per_client
            .unwrap_or((max_connections / 16).max(1)),
        tcp_idle_timeout: seconds(
            args.tcp_idle_timeout,
            defaults.tcp_idle_timeout,
            "tcp-idle-timeout",
        )?,
        tls_handshake_timeout: seconds(
            args.tls_handshake_timeout,
            defaults.tls_handshake_timeout,
            "tls-handshake-timeout",
        )?,
        http_origin_timeout: seconds(
            args.http_origin_timeout,
            defaults.http_origin_timeout,
            "http-origin-timeout",
        )?,
        colo: match &args.colo {
            None => defaults.colo,
            Some(code) => check_colo(code)?,
        },
        resolver: args.resolver,
        origin_dns_max_ttl: match args.origin_dns_max_ttl {
            None => None,
            Some(s) => Some(seconds(Some(s), Duration::ZERO, "origin-dns-max-ttl")?),
        },
        udp_idle_timeout: seconds(
            args.udp_idle_timeout,
            defaults.udp_idle_timeout,
            "udp-idle-timeout",
        )?,
        udp_max_flows: args.udp_max_flows.unwrap_or(defaults.udp_max_flows),
        // Loaded in `serve`, once the data dir is known to be usable.
        tls: defaults.tls,
        // Read in `serve` from `geoip_db`.
        geoip: None,
        // Set in `settings`, from `workers` or the CPUs.
        workers: 1,
    })
}

fn check_colo(code: &str) -> anyhow::Result<String> {
    let ok = (1..=3).contains(&code.len())
        && code
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    anyhow::ensure!(
        ok,
        "--colo {code:?}: a colo code is 1 to 3 upper-case letters or digits"
    );
    Ok(code.to_owned())
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
