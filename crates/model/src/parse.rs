//! Turns a create/update request body into an `AppConfig`, checking every field and every rule
//! between fields that needs nothing but the body itself.

use crate::app::*;
use crate::protocol::{PortRange, Protocol, Transport};
use crate::{codes, hostname, Invalid};
use serde::Deserialize;
use serde_json::Value;
use std::net::IpAddr;

/// The request body as the SDKs send it. An explicit `null` is the same as an absent field.
#[derive(Deserialize)]
struct AppRequest {
    protocol: Option<String>,
    dns: Option<DnsRequest>,
    traffic_type: Option<String>,
    origin_direct: Option<Vec<String>>,
    origin_dns: Option<OriginDnsRequest>,
    origin_port: Option<Value>,
    edge_ips: Option<EdgeIpsRequest>,
    ip_firewall: Option<bool>,
    proxy_protocol: Option<String>,
    tls: Option<String>,
    argo_smart_routing: Option<bool>,
    virtual_network_id: Option<Value>,
    origin_worker_id: Option<Value>,
}

#[derive(Deserialize)]
struct DnsRequest {
    name: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

#[derive(Deserialize)]
struct OriginDnsRequest {
    name: Option<String>,
    ttl: Option<i64>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

#[derive(Deserialize)]
struct EdgeIpsRequest {
    #[serde(rename = "type")]
    kind: Option<String>,
    connectivity: Option<String>,
    ips: Option<Vec<String>>,
}

fn invalid(message: impl Into<String>) -> Invalid {
    Invalid::new(codes::INVALID_FIELD, message)
}

impl AppConfig {
    /// Parses and checks a request body. Unknown fields are refused with 10012 (naming the
    /// first one), wrong JSON types with 10001 (naming the field), and each rule with its code.
    pub fn from_json(body: Value) -> Result<AppConfig, Invalid> {
        Self::parse(body, true)
    }

    /// Like [`AppConfig::from_json`], but fields this version does not know are ignored: for
    /// reading what a server answers, which may be newer.
    pub fn from_json_lenient(body: Value) -> Result<AppConfig, Invalid> {
        Self::parse(body, false)
    }

    fn parse(body: Value, strict: bool) -> Result<AppConfig, Invalid> {
        if !body.is_object() {
            return Err(invalid(
                "the request body must be a JSON object (an app configuration)",
            ));
        }
        let mut unknown = Vec::new();
        // serde_ignored writes `?` for each Option level: `dns.?.ttl` is `dns.ttl`.
        let mut note_unknown =
            |path: serde_ignored::Path| unknown.push(path.to_string().replace(".?", ""));
        let request: AppRequest = serde_path_to_error::deserialize(
            serde_ignored::Deserializer::new(&body, &mut note_unknown),
        )
        .map_err(|e| invalid(format!("{}: {}", e.path(), e.inner())))?;
        if let Some(field) = unknown.first().filter(|_| strict) {
            return Err(Invalid::new(
                codes::UNKNOWN_FIELD,
                format!("json: unknown field \"{field}\""),
            ));
        }
        request.into_config()
    }
}

impl App {
    /// Reads an app object as the API answers it: `id`, `created_on`, `modified_on` and the
    /// configuration, ignoring fields this version does not know. `zone_id` is the zone it was
    /// asked from; `edge_addresses` stays empty (the API shows them only in the status extension).
    pub fn from_api_json(zone_id: &str, mut body: Value) -> Result<App, Invalid> {
        let object = body
            .as_object_mut()
            .ok_or_else(|| invalid("an app must be a JSON object"))?;
        let mut take = |key: &str| -> Result<String, Invalid> {
            match object.remove(key) {
                Some(Value::String(s)) => Ok(s),
                _ => Err(invalid(format!("{key}: missing from the app object"))),
            }
        };
        let id = take("id")?;
        let time = |text: String, key: &str| {
            chrono::DateTime::parse_from_rfc3339(&text)
                .map(|t| t.with_timezone(&chrono::Utc))
                .map_err(|e| invalid(format!("{key}: \"{text}\" is not an RFC 3339 time: {e}")))
        };
        let created_on = time(take("created_on")?, "created_on")?;
        let modified_on = time(take("modified_on")?, "modified_on")?;
        Ok(App {
            id,
            zone_id: zone_id.to_owned(),
            created_on,
            modified_on,
            config: AppConfig::from_json_lenient(body)?,
            edge_addresses: Vec::new(),
        })
    }
}

impl AppRequest {
    fn into_config(self) -> Result<AppConfig, Invalid> {
        if self.virtual_network_id.is_some() {
            return Err(invalid(
                "virtual_network_id: virtual networks are not supported by Spectra; leave it unset",
            ));
        }
        if self.origin_worker_id.is_some() {
            return Err(invalid(
                "origin_worker_id: Worker origins are not supported by Spectra; leave it unset",
            ));
        }
        let protocol = Protocol::parse(
            self.protocol
                .as_deref()
                .ok_or_else(|| invalid("protocol: required, e.g. \"tcp/22\""))?,
        )?;
        let edge_ips = parse_edge_ips(self.edge_ips)?;
        let dns = parse_dns(self.dns, &edge_ips)?;
        let traffic_type = match self.traffic_type.as_deref() {
            None => TrafficType::Direct,
            Some(t) => TrafficType::parse_field(t, "traffic_type")?,
        };
        let origin_port = self.origin_port.map(parse_origin_port).transpose()?;
        let origin = parse_origin(self.origin_direct, self.origin_dns, &protocol, origin_port)?;
        let proxy_protocol = match self.proxy_protocol.as_deref() {
            None => ProxyProtocol::Off,
            Some(p) => ProxyProtocol::parse_field(p, "proxy_protocol")?,
        };
        let tls = match self.tls.as_deref() {
            None => Tls::Off,
            Some(t) => Tls::parse_field(t, "tls")?,
        };
        let config = AppConfig {
            protocol,
            dns,
            traffic_type,
            origin,
            origin_port,
            edge_ips,
            ip_firewall: self.ip_firewall.unwrap_or(false),
            proxy_protocol,
            tls,
            argo_smart_routing: self.argo_smart_routing.unwrap_or(false),
        };
        check_transport_rules(&config)?;
        Ok(config)
    }
}

fn parse_edge_ips(request: Option<EdgeIpsRequest>) -> Result<EdgeIps, Invalid> {
    let Some(request) = request else {
        return Ok(EdgeIps::default());
    };
    match request.kind.as_deref().unwrap_or("dynamic") {
        "dynamic" => {
            if request.ips.is_some() {
                return Err(invalid(
                    "edge_ips.ips: only allowed with edge_ips.type \"static\"",
                ));
            }
            let connectivity = match request.connectivity.as_deref() {
                None => Connectivity::All,
                Some(c) => Connectivity::parse_field(c, "edge_ips.connectivity")?,
            };
            Ok(EdgeIps::Dynamic { connectivity })
        }
        "static" => {
            if request.connectivity.is_some() {
                return Err(invalid(
                    "edge_ips.connectivity: only allowed with edge_ips.type \"dynamic\"",
                ));
            }
            let texts = request.ips.unwrap_or_default();
            if texts.is_empty() {
                return Err(invalid(
                    "edge_ips.ips: a static app needs at least one IP address",
                ));
            }
            let mut ips: Vec<IpAddr> = Vec::with_capacity(texts.len());
            for text in &texts {
                let ip: IpAddr = text.parse().map_err(|_| {
                    invalid(format!(
                        "edge_ips.ips: \"{text}\" is not an IPv4 or IPv6 address"
                    ))
                })?;
                if ips.contains(&ip) {
                    return Err(invalid(format!("edge_ips.ips: {ip} is listed twice")));
                }
                ips.push(ip);
            }
            Ok(EdgeIps::Static { ips })
        }
        other => Err(invalid(format!(
            "edge_ips.type: \"{other}\" is not one of \"dynamic\", \"static\""
        ))),
    }
}

fn parse_dns(request: Option<DnsRequest>, edge_ips: &EdgeIps) -> Result<Dns, Invalid> {
    let request = request.ok_or_else(|| {
        invalid("dns: required, e.g. {\"type\": \"CNAME\", \"name\": \"ssh.example.com\"}")
    })?;
    let name = request
        .name
        .ok_or_else(|| invalid("dns.name: required, the hostname the app is published under"))?;
    if !hostname::is_valid(&name) || name.parse::<IpAddr>().is_ok() {
        return Err(invalid(format!(
            "dns.name: \"{name}\" is not a valid hostname"
        )));
    }
    let is_static = matches!(edge_ips, EdgeIps::Static { .. });
    let kind = match request.kind.as_deref() {
        None if is_static => DnsType::Address,
        None => DnsType::Cname,
        Some(k) => DnsType::parse_field(k, "dns.type")?,
    };
    match (kind, is_static) {
        (DnsType::Cname, true) => Err(Invalid::new(
            codes::EDGE_IPS_TYPE,
            "dns.type: \"CNAME\" needs dynamic edge_ips; static edge_ips need dns.type \"ADDRESS\"",
        )),
        (DnsType::Address, false) => Err(Invalid::new(
            codes::EDGE_IPS_TYPE,
            "dns.type: \"ADDRESS\" needs static edge_ips ({\"type\": \"static\", \"ips\": [...]}); dynamic edge_ips need dns.type \"CNAME\"",
        )),
        _ => Ok(Dns { kind, name }),
    }
}

fn parse_origin_port(value: Value) -> Result<OriginPort, Invalid> {
    let bad = |why: String| Invalid::new(codes::ORIGIN_DNS, format!("origin_port: {why}"));
    match value {
        Value::Number(n) => match n.as_u64() {
            Some(p @ 1..=65535) => Ok(OriginPort::Number(p as u16)),
            _ => Err(bad(format!("{n} is not a port number from 1 to 65535"))),
        },
        Value::String(s) => PortRange::parse(&s).map(OriginPort::Text).map_err(bad),
        other => Err(invalid(format!(
            "origin_port: must be a number (22) or a string (\"1000-2000\"), not {other}"
        ))),
    }
}

fn parse_origin(
    direct: Option<Vec<String>>,
    dns: Option<OriginDnsRequest>,
    protocol: &Protocol,
    origin_port: Option<OriginPort>,
) -> Result<Origin, Invalid> {
    let port_count_rule = |what: &str, ports: PortRange, code: u32| {
        if ports.count() == 1 && !protocol.ports.is_range()
            || ports.count() == protocol.ports.count()
        {
            Ok(())
        } else {
            Err(Invalid::new(code, format!(
                "{what}: has {} port(s) but protocol \"{}\" has {}; a port range needs an origin range of the same length",
                ports.count(), protocol.as_str(), protocol.ports.count()
            )))
        }
    };
    if let Some(port) = origin_port {
        port_count_rule("origin_port", port.ports(), codes::ORIGIN_DNS)?;
    }
    match (direct, dns) {
        (Some(_), Some(_)) => Err(Invalid::new(
            codes::ORIGIN,
            "The origin configuration is invalid: set exactly one of origin_direct and origin_dns, not both",
        )),
        (None, None) => Err(Invalid::new(
            codes::ORIGIN,
            "The origin configuration is invalid: set one of origin_direct (e.g. [\"tcp://192.0.2.1:22\"]) or origin_dns with origin_port",
        )),
        (Some(uris), None) => {
            if uris.is_empty() {
                return Err(Invalid::new(codes::ORIGIN, "origin_direct: needs at least one origin"));
            }
            let mut parsed = Vec::with_capacity(uris.len());
            for (i, text) in uris.into_iter().enumerate() {
                let uri = parse_origin_uri(&text, i)?;
                if uri.transport != protocol.transport {
                    return Err(Invalid::new(codes::ORIGIN_ADDRESS, format!(
                        "origin_direct[{i}]: \"{text}\" is {} but protocol \"{}\" is {}; the origin must use the app's transport",
                        uri.transport, protocol.as_str(), protocol.transport
                    )));
                }
                port_count_rule(&format!("origin_direct[{i}]"), uri.ports, codes::ORIGIN_ADDRESS)?;
                parsed.push(uri);
            }
            Ok(Origin::Direct(parsed))
        }
        (None, Some(dns)) => {
            let bad = |why: String| Invalid::new(codes::ORIGIN_DNS, format!("The origin DNS configuration is invalid: {why}"));
            let name = dns.name.ok_or_else(|| bad("origin_dns.name is required".into()))?;
            if name.parse::<IpAddr>().is_ok() {
                return Err(bad(format!("origin_dns.name \"{name}\" is an IP address; put IP origins in origin_direct")));
            }
            if !hostname::is_valid(&name) {
                return Err(bad(format!("origin_dns.name \"{name}\" is not a valid hostname")));
            }
            let ttl = match dns.ttl {
                None => None,
                Some(t @ 600..=2_147_483_647) => Some(t as u32),
                Some(t) => return Err(bad(format!("origin_dns.ttl {t} is below the minimum of 600 seconds (or too large)"))),
            };
            let kind = dns
                .kind
                .map(|k| OriginDnsType::parse_field(&k, "origin_dns.type"))
                .transpose()
                .map_err(|e| bad(e.message))?;
            if kind != Some(OriginDnsType::Srv) && origin_port.is_none() {
                return Err(bad("origin_port is required with origin_dns unless origin_dns.type is \"SRV\"".into()));
            }
            Ok(Origin::Dns(OriginDns { name, ttl, kind }))
        }
    }
}

/// Parses `tcp://192.0.2.1:22`, `tcp://[2001:db8::1]:22` or `udp://192.0.2.1:1000-2000`.
fn parse_origin_uri(text: &str, index: usize) -> Result<OriginUri, Invalid> {
    let bad = |why: &str| {
        Invalid::new(codes::ORIGIN_ADDRESS, format!(
            "origin_direct[{index}]: \"{text}\" {why}; expected tcp://IPv4:PORT, tcp://[IPv6]:PORT or a port range START-END"
        ))
    };
    let (scheme, rest) = text.split_once("://").ok_or_else(|| bad("has no scheme"))?;
    let transport = match scheme {
        "tcp" => Transport::Tcp,
        "udp" => Transport::Udp,
        _ => return Err(bad("has a scheme other than tcp or udp")),
    };
    let (ip, ports) = if let Some(v6) = rest.strip_prefix('[') {
        let (host, after) = v6
            .split_once(']')
            .ok_or_else(|| bad("has an unclosed '['"))?;
        let ports = after.strip_prefix(':').ok_or_else(|| bad("has no port"))?;
        let ip: std::net::Ipv6Addr = host
            .parse()
            .map_err(|_| bad("has an invalid IPv6 address"))?;
        (IpAddr::V6(ip), ports)
    } else {
        let (host, ports) = rest.rsplit_once(':').ok_or_else(|| bad("has no port"))?;
        if host.contains(':') {
            return Err(bad("has an IPv6 address without brackets"));
        }
        let ip: std::net::Ipv4Addr = host.parse().map_err(|_| {
            bad("does not hold an IP address (origin_direct takes IPs; use origin_dns for names)")
        })?;
        (IpAddr::V4(ip), ports)
    };
    let ports = PortRange::parse(ports).map_err(|why| bad(&why))?;
    Ok(OriginUri {
        text: text.to_owned(),
        transport,
        ip,
        ports,
    })
}

/// Rules that tie a field to the app's transport or traffic type.
fn check_transport_rules(config: &AppConfig) -> Result<(), Invalid> {
    let transport = config.protocol.transport;
    let proxy_ok = match config.proxy_protocol {
        ProxyProtocol::V1 => transport == Transport::Tcp,
        ProxyProtocol::Simple => transport == Transport::Udp,
        ProxyProtocol::Off | ProxyProtocol::V2 => true,
    };
    if !proxy_ok {
        return Err(invalid(format!(
            "proxy_protocol: \"{}\" is not available for {transport} apps (v1 is TCP only, simple is UDP only)",
            config.proxy_protocol
        )));
    }
    if config.tls != Tls::Off && transport != Transport::Tcp {
        return Err(invalid(format!(
            "tls: \"{}\" is for TCP apps only; UDP apps need tls \"off\"",
            config.tls
        )));
    }
    if config.traffic_type != TrafficType::Direct && transport != Transport::Tcp {
        return Err(invalid(format!(
            "traffic_type: \"{}\" needs a TCP protocol; UDP apps are \"direct\"",
            config.traffic_type
        )));
    }
    if config.argo_smart_routing && config.traffic_type != TrafficType::Direct {
        return Err(invalid(
            "argo_smart_routing: only available with traffic_type \"direct\"",
        ));
    }
    Ok(())
}
