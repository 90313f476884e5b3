//! The Spectrum app: its typed configuration and the exact JSON shape the API answers with.

use crate::protocol::{PortRange, Protocol, Transport};
use chrono::{DateTime, Utc};
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use std::net::IpAddr;

crate::choice::choice! {
    /// `dns.type`: a CNAME to dynamic edge IPs, or A/AAAA records of static ones.
    DnsType { Cname = "CNAME", Address = "ADDRESS" }
}
crate::choice::choice! {
    TrafficType { Direct = "direct", Http = "http", Https = "https" }
}
crate::choice::choice! {
    ProxyProtocol { Off = "off", V1 = "v1", V2 = "v2", Simple = "simple" }
}
crate::choice::choice! {
    Tls { Off = "off", Flexible = "flexible", Full = "full", Strict = "strict" }
}
crate::choice::choice! {
    /// `origin_dns.type`: `""` resolves both A and AAAA.
    OriginDnsType { Any = "", A = "A", Aaaa = "AAAA", Srv = "SRV" }
}
crate::choice::choice! {
    Connectivity { All = "all", Ipv4 = "ipv4", Ipv6 = "ipv6" }
}

/// The hostname Spectrum publishes for the app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dns {
    #[serde(rename = "type")]
    pub kind: DnsType,
    pub name: String,
}

/// One `origin_direct` entry, `tcp://192.0.2.1:22`, `udp://[2001:db8::1]:1000-2000`; echoed verbatim.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OriginUri {
    pub(crate) text: String,
    pub transport: Transport,
    pub ip: IpAddr,
    pub ports: PortRange,
}

impl OriginUri {
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl Serialize for OriginUri {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

/// `origin_dns`: a name the edge resolves itself. Unset sub-fields stay unset in responses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OriginDns {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u32>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<OriginDnsType>,
}

impl OriginDns {
    /// The record type to resolve: unset means `""`, both A and AAAA.
    pub fn record_type(&self) -> OriginDnsType {
        self.kind.unwrap_or(OriginDnsType::Any)
    }
}

/// Where the app's traffic goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Several entries are load-balanced.
    Direct(Vec<OriginUri>),
    Dns(OriginDns),
}

/// `origin_port`, echoed with the JSON type it was sent with: a number, or a string (`"2000-2002"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OriginPort {
    Number(u16),
    Text(PortRange),
}

impl OriginPort {
    pub fn ports(&self) -> PortRange {
        match *self {
            OriginPort::Number(p) => PortRange::single(p),
            OriginPort::Text(r) => r,
        }
    }
}

impl Serialize for OriginPort {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            OriginPort::Number(p) => s.serialize_u16(*p),
            OriginPort::Text(r) => s.collect_str(r),
        }
    }
}

/// `edge_ips`: addresses allocated by the node, or the app's own static ones (order kept).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum EdgeIps {
    Dynamic { connectivity: Connectivity },
    Static { ips: Vec<IpAddr> },
}

impl Default for EdgeIps {
    fn default() -> Self {
        EdgeIps::Dynamic {
            connectivity: Connectivity::All,
        }
    }
}

/// Everything a client configures on an app: the request body of create and update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppConfig {
    pub protocol: Protocol,
    pub dns: Dns,
    pub traffic_type: TrafficType,
    pub origin: Origin,
    pub origin_port: Option<OriginPort>,
    pub edge_ips: EdgeIps,
    pub ip_firewall: bool,
    pub proxy_protocol: ProxyProtocol,
    pub tls: Tls,
    pub argo_smart_routing: bool,
}

impl AppConfig {
    fn serialize_fields<M: SerializeMap>(&self, map: &mut M) -> Result<(), M::Error> {
        map.serialize_entry("protocol", &self.protocol)?;
        map.serialize_entry("dns", &self.dns)?;
        map.serialize_entry("traffic_type", &self.traffic_type)?;
        match &self.origin {
            Origin::Direct(uris) => map.serialize_entry("origin_direct", uris)?,
            Origin::Dns(dns) => map.serialize_entry("origin_dns", dns)?,
        }
        if let Some(port) = &self.origin_port {
            map.serialize_entry("origin_port", port)?;
        }
        map.serialize_entry("edge_ips", &self.edge_ips)?;
        map.serialize_entry("ip_firewall", &self.ip_firewall)?;
        map.serialize_entry("proxy_protocol", &self.proxy_protocol)?;
        map.serialize_entry("tls", &self.tls)?;
        map.serialize_entry("argo_smart_routing", &self.argo_smart_routing)
    }
}

/// The configuration alone, as stored: the same JSON a client may send.
impl Serialize for AppConfig {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        self.serialize_fields(&mut map)?;
        map.end()
    }
}

/// A stored app: its identity, timestamps and configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct App {
    pub id: String,
    pub zone_id: String,
    pub created_on: DateTime<Utc>,
    pub modified_on: DateTime<Utc>,
    pub config: AppConfig,
    /// Where the app listens: its static IPs, or the addresses assigned to its hostname.
    /// Not part of the Cloudflare app object; `GET .../apps/{id}/status` shows it.
    pub edge_addresses: Vec<IpAddr>,
}

impl App {
    /// An app created (and last modified) `at`.
    pub fn new(
        id: String,
        zone_id: String,
        at: DateTime<Utc>,
        config: AppConfig,
        edge_addresses: Vec<IpAddr>,
    ) -> App {
        App {
            id,
            zone_id,
            created_on: at,
            modified_on: at,
            config,
            edge_addresses,
        }
    }
}

/// The API's app object: every field, with its value or its documented default.
impl Serialize for App {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("id", &self.id)?;
        map.serialize_entry("created_on", &crate::timestamp(self.created_on))?;
        map.serialize_entry("modified_on", &crate::timestamp(self.modified_on))?;
        self.config.serialize_fields(&mut map)?;
        map.end()
    }
}
