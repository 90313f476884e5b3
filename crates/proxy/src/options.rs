//! The data plane's settings, from `serve`'s flags.

use crate::geoip::GeoIp;
use crate::tls::certs::TlsOptions;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Data-plane settings, from `serve`'s flags.
#[derive(Debug, Clone)]
pub struct Options {
    /// The budget for reaching an origin, failover included.
    pub connect_timeout: Duration,
    /// How long a removed app's (or a stopping node's) open connections may go on.
    pub drain_timeout: Duration,
    /// Open connections the whole node allows; beyond it new ones are closed at once.
    pub max_connections: usize,
    /// Open connections one client (an IPv4 address, an IPv6 /64) may hold.
    pub max_connections_per_client: usize,
    /// A TCP connection with no byte either way for this long is closed.
    pub tcp_idle_timeout: Duration,
    /// A client's TLS handshake must finish within this.
    pub tls_handshake_timeout: Duration,
    /// How long an `http` app's origin may take to answer a request's headers (then 504).
    pub http_origin_timeout: Duration,
    /// This node's colo code: `ColoCode` in the connection log.
    pub colo: String,
    /// The DNS server origin names are resolved with; `None`: the system's (resolv.conf).
    pub resolver: Option<SocketAddr>,
    /// Keep origin DNS answers at most this long, whatever the apps' `ttl`.
    pub origin_dns_max_ttl: Option<Duration>,
    /// A UDP flow with no datagram either way for this long ends.
    pub udp_idle_timeout: Duration,
    /// UDP flows the whole node allows; datagrams of new flows beyond it are dropped.
    pub udp_max_flows: usize,
    /// Certificates and trust for apps with `tls`.
    pub tls: Arc<TlsOptions>,
    /// Where clients are, for `country` and `asn` access rules; without it they match no one.
    pub geoip: Option<Arc<GeoIp>>,
    /// Edge worker threads, each with its own listeners (`SO_REUSEPORT`), connections and
    /// flows; 1: the edge runs on the caller's runtime.
    pub workers: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            connect_timeout: Duration::from_secs(10),
            drain_timeout: Duration::from_secs(30),
            max_connections: 65_536,
            max_connections_per_client: 65_536 / 16,
            tcp_idle_timeout: Duration::from_secs(3600),
            tls_handshake_timeout: Duration::from_secs(10),
            http_origin_timeout: Duration::from_secs(100),
            colo: "LOC".into(),
            resolver: None,
            origin_dns_max_ttl: None,
            udp_idle_timeout: Duration::from_secs(60),
            udp_max_flows: 65_536,
            tls: Arc::default(),
            geoip: None,
            workers: 1,
        }
    }
}
