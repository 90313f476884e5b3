//! What the data plane dropped, counted while it runs.

use std::sync::atomic::AtomicU64;

/// What the data plane dropped.
#[derive(Debug, Default)]
pub struct Counters {
    /// Datagrams of new UDP flows dropped because the flow limit was reached.
    pub udp_flows_refused: AtomicU64,
    /// Origin replies dropped for a missing or wrong Simple Proxy Protocol header.
    pub spp_malformed: AtomicU64,
    /// TCP connections and UDP datagrams refused by a zone's IP Access Rules.
    pub clients_filtered: AtomicU64,
    /// TCP connections closed at once because their client held its share of the node.
    pub client_limit_refused: AtomicU64,
    /// TCP connections closed by `tcp_idle_timeout` or `tls_handshake_timeout`.
    pub timed_out: AtomicU64,
}
