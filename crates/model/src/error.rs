//! The coded error a request is refused with: Cloudflare's numeric code plus a message naming the field.

/// Cloudflare error codes Spectra answers with (SPECTRUM.md §5; Spectra's own choices are in the README).
pub mod codes {
    /// A zone name that is not a domain.
    pub const ZONE_NAME: u32 = 1099;
    /// A zone with that name exists already.
    pub const ZONE_EXISTS: u32 = 1061;
    /// A custom certificate that is malformed, expired or not yet valid (Spectra's code).
    pub const CERTIFICATE: u32 = 1400;
    /// A custom certificate's private key that is malformed, unsupported or does not match the
    /// certificate (Spectra's code).
    pub const PRIVATE_KEY: u32 = 1401;
    /// A custom certificate naming a host outside its zone (Spectra's code).
    pub const CERTIFICATE_HOSTS: u32 = 1402;
    /// Analytics queries (Spectra's choice: Cloudflare documents none): an unknown metric.
    pub const ANALYTICS_METRIC: u32 = 1500;
    /// An unknown dimension.
    pub const ANALYTICS_DIMENSION: u32 = 1501;
    /// A `filters` expression that does not parse.
    pub const ANALYTICS_FILTER: u32 = 1502;
    /// A `sort` field not among the requested metrics and dimensions.
    pub const ANALYTICS_SORT: u32 = 1503;
    /// A malformed `since`/`until`, or `since` after `until`.
    pub const ANALYTICS_TIME: u32 = 1504;
    /// A missing or unknown `time_delta`.
    pub const ANALYTICS_TIME_DELTA: u32 = 1505;
    /// A `limit` that is not a whole number from 1 to 10,000.
    pub const ANALYTICS_LIMIT: u32 = 1506;
    /// A field has a wrong type, a missing required value or a value outside its enum.
    pub const INVALID_FIELD: u32 = 10001;
    /// A JSON field that the app object does not have.
    pub const UNKNOWN_FIELD: u32 = 10012;
    /// Neither or both of `origin_direct` and `origin_dns`, or a rule between origin fields.
    pub const ORIGIN: u32 = 11000;
    /// `origin_dns` (or `origin_port` beside it) is invalid.
    pub const ORIGIN_DNS: u32 = 11001;
    /// An `origin_direct` URI is invalid.
    pub const ORIGIN_ADDRESS: u32 = 11002;
    /// `dns.type` does not fit `edge_ips.type`, or an update changes `dns.type`.
    pub const EDGE_IPS_TYPE: u32 = 11004;
    /// Static edge IPs outside the addresses this node may serve.
    pub const EDGE_IPS_NOT_ALLOWED: u32 = 11019;
    /// No address of the edge pool can take the app.
    pub const EDGE_POOL_EXHAUSTED: u32 = 12005;
    /// `protocol` is malformed or names ports that cannot be served.
    pub const PROTOCOL: u32 = 13002;
    /// `dns.name` lies outside the app's zone.
    pub const HOSTNAME_ZONE: u32 = 16001;
}

/// A refused request: a Cloudflare error code and a message that says which field is wrong and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (code {code})")]
pub struct Invalid {
    pub code: u32,
    pub message: String,
}

impl Invalid {
    pub fn new(code: u32, message: impl Into<String>) -> Self {
        Invalid {
            code,
            message: message.into(),
        }
    }
}
