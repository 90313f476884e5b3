//! How a connection ended, in Cloudflare's event-log terms: the event, the status (which says
//! which side failed: client, origin or edge), and Spectra's statuses for its own limits.

use std::io;
use std::net::SocketAddr;

/// Which end of a relay failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Client,
    Origin,
}

/// Cloudflare's event-log status for a client an IP Access Rule refused.
pub(crate) const FILTERED: u16 = 403;
/// Spectra's event-log statuses for connections closed by one of its limits.
pub(crate) mod limit {
    /// No byte either way for `--tcp-idle-timeout`.
    pub const IDLE: u16 = 408;
    /// The client held `--max-connections-per-client` already.
    pub const PER_CLIENT: u16 = 429;
    /// The client's TLS handshake did not finish within `--tls-handshake-timeout`.
    pub const TLS_HANDSHAKE: u16 = 442;
    /// The node held `--max-connections` already.
    pub const NODE: u16 = 503;
}

/// Cloudflare's event-log status for a failed origin connect.
pub(crate) fn connect_status(error: &io::Error) -> u16 {
    match error.kind() {
        io::ErrorKind::ConnectionRefused => 521,
        io::ErrorKind::TimedOut => 522,
        io::ErrorKind::HostUnreachable | io::ErrorKind::NetworkUnreachable => 523,
        _ => 520,
    }
}

/// Cloudflare's event-log status for a relay that failed on `side`.
pub(crate) fn relay_status(side: Side, error: &io::Error) -> u16 {
    use io::ErrorKind::*;
    match (side, error.kind()) {
        (Side::Client, ConnectionReset) => 499,
        (Side::Client, BrokenPipe) => 498,
        (Side::Client, TimedOut) => 497,
        (Side::Client, HostUnreachable) => 496,
        (Side::Client, ConnectionRefused) => 495,
        (Side::Client, _) => 499,
        (Side::Origin, ConnectionReset) => 444,
        (Side::Origin, TimedOut) => 445,
        (Side::Origin, HostUnreachable) => 446,
        (Side::Origin, BrokenPipe) => 448,
        (Side::Origin, _) => 447,
    }
}

/// How a connection ended, for its log line: event, status, origin, bytes each way.
pub(crate) type Outcome = (&'static str, u16, Option<SocketAddr>, u64, u64);
