//! Spectra's configuration model: apps, zones, tokens, their validation, the `Snapshot` and its `diff`. No I/O.

mod access;
mod access_rule;
pub mod analytics;
mod app;
mod certificate;
mod choice;
mod edge;
mod edge_index;
mod error;
pub mod hostname;
mod list;
mod local;
mod node;
mod parse;
mod protocol;
mod publication;
mod rules;
mod snapshot;
mod status;
mod zone;

pub use access::{Permission, Token, User};
pub use access_rule::{
    canonical_value, AccessRule, AccessRuleMode, Firewall, Location, RuleFields, RuleTarget,
};
pub use app::{
    App, AppConfig, Connectivity, Dns, DnsType, EdgeIps, Origin, OriginDns, OriginDnsType,
    OriginPort, OriginUri, ProxyProtocol, Tls, TrafficType,
};
pub use certificate::{
    certified_key, BundleMethod, Certificate, CertificateFields, CertificateType, Inspected,
};
pub use edge::assign_edge_addresses;
pub use edge_index::EdgeIndex;
pub use error::{codes, Invalid};
pub use list::{AppListQuery, AppOrder, Direction, DEFAULT_PER_PAGE, MAX_PER_PAGE};
pub use local::{localize, LocalAddresses, LocalChange};
pub use node::{Node, NodeListener, HEARTBEAT_EVERY, STALE_AFTER};
pub use protocol::{NamedProtocol, PortRange, Protocol, Transport, NAMED_PROTOCOLS};
pub use publication::{
    publish, DnsUpdateState, Publication, ZonePublication, PUBLISHED_WHILE_HEARD_WITHIN,
};
pub use rules::Policy;
pub use snapshot::{diff, AppChange, Changes, Map, Snapshot};
pub use status::{ListenerStatus, StatusSource};
pub use zone::{normalize_zone_name, Zone};

use chrono::{DateTime, SecondsFormat, Utc};

/// RFC 3339 in UTC with microseconds, as every timestamp of the API is written
/// (`2026-11-27T01:02:03.456789Z`). Fixed width, so the text sorts like the time.
pub fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Whether `id` has the form of a Cloudflare identifier: 32 lower-case hex digits.
pub fn is_identifier(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}
