//! Spectra's DNS: the publication served by an authoritative server (hickory-server), and sent
//! to another server as RFC 2136 updates.

pub mod answer;
mod respond;
mod server;
pub mod update;
pub mod zone_data;

pub use server::{bind_pair, serve, Published};
pub use zone_data::{ZoneData, ZoneSettings};

/// Why a DNS part stopped.
#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    #[error("DNS server: {0}")]
    Server(#[from] hickory_proto::ProtoError),
    #[error("DNS server: {0}")]
    Io(#[from] std::io::Error),
}
