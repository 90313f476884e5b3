//! The flags of `spectra serve`, which are also the keys of its optional TOML file (`--config`);
//! flags win over the file.

use anyhow::Context;
use ipnet::IpNet;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Every setting of `serve`. Each flag has the same key in the `--config` TOML file; flags win.
#[derive(clap::Args, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ServeArgs {
    /// TOML file with the same keys as these flags (`data_dir`, `api_listen`, ...).
    #[arg(long)]
    #[serde(skip)]
    pub(super) config: Option<PathBuf>,
    /// Directory of the embedded store [default: ./spectra-data]; with --store, of the node's
    /// own files (the node CA).
    #[arg(long, env = "SPECTRA_DATA_DIR", hide_env_values = true)]
    pub(super) data_dir: Option<PathBuf>,
    /// A fleet's store, `postgres://USER:PASSWORD@HOST:PORT/DB` [default: SQLite in --data-dir].
    #[arg(long, env = "SPECTRA_STORE", hide_env_values = true)]
    pub(super) store: Option<String>,
    /// Address the API listens on [default: 127.0.0.1:8080]; port 0 picks a free port.
    #[arg(long)]
    pub(super) api_listen: Option<SocketAddr>,
    /// Seconds an API request's headers may take to arrive [default: 10].
    #[arg(long)]
    pub(super) api_header_timeout: Option<f64>,
    /// Seconds an API request's body may take to arrive after its headers [default: 30].
    #[arg(long)]
    pub(super) api_body_timeout: Option<f64>,
    /// Seconds an API connection may stay open without a request [default: 60].
    #[arg(long)]
    pub(super) api_idle_timeout: Option<f64>,
    /// Open API connections; at the cap the oldest without a request in progress is closed
    /// [default: 1024].
    #[arg(long)]
    pub(super) api_max_connections: Option<usize>,
    /// Requests per credential (or per client address, without one), as N/PERIOD: 100/s,
    /// 1200/5m, 5000/1h; over it, 429 with Retry-After [default: off].
    #[arg(long)]
    pub(super) api_rate_limit: Option<String>,
    /// PEM certificate chain (leaf first) for HTTPS on the API; needs --api-tls-key.
    #[arg(long, requires = "api_tls_key")]
    pub(super) api_tls_cert: Option<PathBuf>,
    /// PEM private key for --api-tls-cert.
    #[arg(long, requires = "api_tls_cert")]
    pub(super) api_tls_key: Option<PathBuf>,
    /// Where dynamic apps get their IPv4 edge address [default: 127.0.1.0/24].
    #[arg(long)]
    pub(super) edge_ipv4_pool: Option<IpNet>,
    /// Where dynamic apps get their IPv6 edge address [default: ::1/128].
    #[arg(long)]
    pub(super) edge_ipv6_pool: Option<IpNet>,
    /// Where static edge IPs may lie, comma-separated [default: 127.0.0.0/8,::1/128].
    #[arg(long, value_delimiter = ',')]
    pub(super) edge_static_allow: Option<Vec<IpNet>>,
    /// The most edge ports one app may span [default: 1024].
    #[arg(long)]
    pub(super) max_ports_per_app: Option<u32>,
    /// Seconds to reach an origin, failover included [default: 10].
    #[arg(long)]
    pub(super) connect_timeout: Option<f64>,
    /// Seconds a removed app's open connections may go on [default: 30].
    #[arg(long)]
    pub(super) drain_timeout: Option<f64>,
    /// Open connections the node allows in all [default: 65536].
    #[arg(long)]
    pub(super) max_connections: Option<usize>,
    /// Open connections one client (an IPv4 address, an IPv6 /64) may hold
    /// [default: a sixteenth of --max-connections, at least 1].
    #[arg(long)]
    pub(super) max_connections_per_client: Option<usize>,
    /// Seconds without a byte either way after which a TCP connection is closed [default: 3600].
    #[arg(long)]
    pub(super) tcp_idle_timeout: Option<f64>,
    /// Seconds a client has to finish its TLS handshake with a `tls` app [default: 10].
    #[arg(long)]
    pub(super) tls_handshake_timeout: Option<f64>,
    /// Seconds an `http` app's origin has to answer a request's headers; then 504 [default: 100].
    #[arg(long)]
    pub(super) http_origin_timeout: Option<f64>,
    /// This node's name in a fleet [default: the host name].
    #[arg(long)]
    pub(super) node_name: Option<String>,
    /// This node's colo code, 1 to 3 upper-case letters or digits: `ColoCode` in the
    /// connection log [default: LOC].
    #[arg(long)]
    pub(super) colo: Option<String>,
    /// JSON-lines connection log, one line per closed connection [default: off].
    #[arg(long)]
    pub(super) access_log: Option<PathBuf>,
    /// DNS server (IP:PORT) for origin_dns names [default: the system's, from resolv.conf].
    #[arg(long)]
    pub(super) resolver: Option<SocketAddr>,
    /// Keep origin DNS answers at most this many seconds, whatever an app's ttl [default: the app's ttl].
    #[arg(long)]
    pub(super) origin_dns_max_ttl: Option<f64>,
    /// Seconds without a datagram either way after which a UDP flow ends [default: 60].
    #[arg(long)]
    pub(super) udp_idle_timeout: Option<f64>,
    /// UDP flows the node allows in all; new flows beyond it are dropped [default: 65536].
    #[arg(long)]
    pub(super) udp_max_flows: Option<usize>,
    /// Certificates for apps with `tls`: HOSTNAME.crt (chain, leaf first) with HOSTNAME.key
    /// [default: none; every hostname gets a certificate from the node CA in DATA_DIR/tls].
    #[arg(long)]
    pub(super) tls_cert_dir: Option<PathBuf>,
    /// MaxMind DB files (GeoLite2, DB-IP lite, ...; comma-separated) that locate clients for
    /// `country` and `asn` access rules; re-read when they change [default: none, and such
    /// rules are refused].
    #[arg(long, value_delimiter = ',')]
    pub(super) geoip_db: Option<Vec<PathBuf>>,
    /// PEM file of roots an origin's certificate may chain to under `tls: strict`, besides the
    /// web PKI's.
    #[arg(long)]
    pub(super) origin_ca: Option<PathBuf>,
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
    /// Edge worker threads, each with its own listeners (SO_REUSEPORT), connections and UDP
    /// flows [default: the CPUs this process may use]. With 1, the edge shares the API's thread.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    pub(super) workers: Option<u16>,
}

impl ServeArgs {
    /// These flags, with what they leave unset taken from `file`.
    pub(super) fn or(self, file: ServeArgs) -> ServeArgs {
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

pub(super) fn read_config(path: &Path) -> anyhow::Result<ServeArgs> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("invalid config file {}", path.display()))
}
