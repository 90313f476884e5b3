//! The settings of `spectra serve`: its flags, the same keys in the optional TOML file, and the
//! defaults, checked and turned into what the store, the API and the data plane take.

use super::analytics::{analytics_settings, AnalyticsSettings};
use super::dns_settings::{dns_settings, DnsSettings};
use anyhow::Context;
use ipnet::IpNet;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const DEFAULT_DATA_DIR: &str = "./spectra-data";

/// Every setting of `serve`. Each flag has the same key in the `--config` TOML file; flags win.
#[derive(clap::Args, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ServeArgs {
    /// TOML file with the same keys as these flags (`data_dir`, `api_listen`, ...).
    #[arg(long)]
    #[serde(skip)]
    config: Option<PathBuf>,
    /// Directory of the embedded store [default: ./spectra-data]; with --store, of the node's
    /// own files (the node CA).
    #[arg(long, env = "SPECTRA_DATA_DIR", hide_env_values = true)]
    data_dir: Option<PathBuf>,
    /// A fleet's store, `postgres://USER:PASSWORD@HOST:PORT/DB` [default: SQLite in --data-dir].
    #[arg(long, env = "SPECTRA_STORE", hide_env_values = true)]
    store: Option<String>,
    /// Address the API listens on [default: 127.0.0.1:8080]; port 0 picks a free port.
    #[arg(long)]
    api_listen: Option<SocketAddr>,
    /// Seconds an API request's headers may take to arrive [default: 10].
    #[arg(long)]
    api_header_timeout: Option<f64>,
    /// Seconds an API request's body may take to arrive after its headers [default: 30].
    #[arg(long)]
    api_body_timeout: Option<f64>,
    /// Seconds an API connection may stay open without a request [default: 60].
    #[arg(long)]
    api_idle_timeout: Option<f64>,
    /// Open API connections; at the cap the oldest without a request in progress is closed
    /// [default: 1024].
    #[arg(long)]
    api_max_connections: Option<usize>,
    /// Requests per credential (or per client address, without one), as N/PERIOD: 100/s,
    /// 1200/5m, 5000/1h; over it, 429 with Retry-After [default: off].
    #[arg(long)]
    api_rate_limit: Option<String>,
    /// PEM certificate chain (leaf first) for HTTPS on the API; needs --api-tls-key.
    #[arg(long, requires = "api_tls_key")]
    api_tls_cert: Option<PathBuf>,
    /// PEM private key for --api-tls-cert.
    #[arg(long, requires = "api_tls_cert")]
    api_tls_key: Option<PathBuf>,
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
    /// Open connections one client (an IPv4 address, an IPv6 /64) may hold
    /// [default: a sixteenth of --max-connections, at least 1].
    #[arg(long)]
    max_connections_per_client: Option<usize>,
    /// Seconds without a byte either way after which a TCP connection is closed [default: 3600].
    #[arg(long)]
    tcp_idle_timeout: Option<f64>,
    /// Seconds a client has to finish its TLS handshake with a `tls` app [default: 10].
    #[arg(long)]
    tls_handshake_timeout: Option<f64>,
    /// Seconds an `http` app's origin has to answer a request's headers; then 504 [default: 100].
    #[arg(long)]
    http_origin_timeout: Option<f64>,
    /// This node's name in a fleet [default: the host name].
    #[arg(long)]
    node_name: Option<String>,
    /// This node's colo code, 1 to 3 upper-case letters or digits: `ColoCode` in the
    /// connection log [default: LOC].
    #[arg(long)]
    colo: Option<String>,
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
    /// MaxMind DB files (GeoLite2, DB-IP lite, ...; comma-separated) that locate clients for
    /// `country` and `asn` access rules; re-read when they change [default: none, and such
    /// rules are refused].
    #[arg(long, value_delimiter = ',')]
    geoip_db: Option<Vec<PathBuf>>,
    /// PEM file of roots an origin's certificate may chain to under `tls: strict`, besides the
    /// web PKI's.
    #[arg(long)]
    origin_ca: Option<PathBuf>,
    /// Addresses (IP:PORT, comma-separated) where the authoritative DNS server answers each
    /// app hostname with its live edge addresses, over UDP and TCP [default: off].
    #[arg(long, value_delimiter = ',')]
    pub(super) dns_listen: Option<Vec<SocketAddr>>,
    /// The zones' NS names, comma-separated; the first is the SOA's primary
    /// [default: the node name].
    #[arg(long, value_delimiter = ',')]
    pub(super) dns_nameservers: Option<Vec<String>>,
    /// TTL in seconds of every published record, and of negative answers [default: 30].
    #[arg(long)]
    pub(super) dns_ttl: Option<u32>,
    /// A DNS server (IP:PORT) that holds the zones, kept up to date with RFC 2136 updates of
    /// the app hostnames' A and AAAA records [default: off].
    #[arg(long)]
    pub(super) dns_update: Option<SocketAddr>,
    /// TSIG key file for --dns-update, in BIND's `key "name" { algorithm ...; secret "..."; };`
    /// form [default: unsigned updates].
    #[arg(long)]
    pub(super) dns_update_key: Option<PathBuf>,
    /// How long analytics minutes are kept: a number with a unit, s, m, h or d (`30d`, `12h`)
    /// [default: 30d].
    #[arg(long)]
    pub(super) analytics_retention: Option<String>,
    /// Record no analytics events: the analytics API then answers with nothing [default:
    /// analytics on].
    #[arg(long)]
    #[serde(default)]
    pub(super) no_analytics: bool,
    /// Serve no web dashboard at / on the API address [default: the dashboard is on].
    #[arg(long)]
    #[serde(default)]
    pub(super) no_dashboard: bool,
    /// Address (IP:PORT) where Prometheus metrics are served at /metrics [default: off].
    #[arg(long)]
    pub(super) metrics_listen: Option<SocketAddr>,
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
            store: self.store.or(file.store),
            api_listen: self.api_listen.or(file.api_listen),
            api_header_timeout: self.api_header_timeout.or(file.api_header_timeout),
            api_body_timeout: self.api_body_timeout.or(file.api_body_timeout),
            api_idle_timeout: self.api_idle_timeout.or(file.api_idle_timeout),
            api_max_connections: self.api_max_connections.or(file.api_max_connections),
            api_rate_limit: self.api_rate_limit.or(file.api_rate_limit),
            api_tls_cert: self.api_tls_cert.or(file.api_tls_cert),
            api_tls_key: self.api_tls_key.or(file.api_tls_key),
            edge_ipv4_pool: self.edge_ipv4_pool.or(file.edge_ipv4_pool),
            edge_ipv6_pool: self.edge_ipv6_pool.or(file.edge_ipv6_pool),
            edge_static_allow: self.edge_static_allow.or(file.edge_static_allow),
            max_ports_per_app: self.max_ports_per_app.or(file.max_ports_per_app),
            connect_timeout: self.connect_timeout.or(file.connect_timeout),
            drain_timeout: self.drain_timeout.or(file.drain_timeout),
            max_connections: self.max_connections.or(file.max_connections),
            max_connections_per_client: self
                .max_connections_per_client
                .or(file.max_connections_per_client),
            tcp_idle_timeout: self.tcp_idle_timeout.or(file.tcp_idle_timeout),
            tls_handshake_timeout: self.tls_handshake_timeout.or(file.tls_handshake_timeout),
            http_origin_timeout: self.http_origin_timeout.or(file.http_origin_timeout),
            colo: self.colo.or(file.colo),
            node_name: self.node_name.or(file.node_name),
            access_log: self.access_log.or(file.access_log),
            resolver: self.resolver.or(file.resolver),
            origin_dns_max_ttl: self.origin_dns_max_ttl.or(file.origin_dns_max_ttl),
            udp_idle_timeout: self.udp_idle_timeout.or(file.udp_idle_timeout),
            udp_max_flows: self.udp_max_flows.or(file.udp_max_flows),
            workers: self.workers.or(file.workers),
            tls_cert_dir: self.tls_cert_dir.or(file.tls_cert_dir),
            origin_ca: self.origin_ca.or(file.origin_ca),
            geoip_db: self.geoip_db.or(file.geoip_db),
            dns_listen: self.dns_listen.or(file.dns_listen),
            dns_nameservers: self.dns_nameservers.or(file.dns_nameservers),
            dns_ttl: self.dns_ttl.or(file.dns_ttl),
            dns_update: self.dns_update.or(file.dns_update),
            dns_update_key: self.dns_update_key.or(file.dns_update_key),
            analytics_retention: self.analytics_retention.or(file.analytics_retention),
            no_analytics: self.no_analytics || file.no_analytics,
            metrics_listen: self.metrics_listen.or(file.metrics_listen),
            no_dashboard: self.no_dashboard || file.no_dashboard,
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
    pub workers: usize,
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
        workers: match args.workers {
            Some(0) => anyhow::bail!("workers must be at least 1"),
            Some(n) => n.into(),
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        },
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

fn read_config(path: &Path) -> anyhow::Result<ServeArgs> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("invalid config file {}", path.display()))
}
