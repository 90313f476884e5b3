//! Zone IP Access Rules (`/zones/{zone_id}/firewall/access_rules/rules`): the rule object, its
//! validation, and the firewall an app with `ip_firewall` applies to each new client.

use crate::choice::choice;
use crate::{codes, Invalid};
use chrono::{DateTime, Utc};
use ipnet::IpNet;
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};
use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

choice!(
    /// What a matching rule does. At L4 only `block` and `whitelist` (the API's name for
    /// "allow") mean anything; the challenge modes need a browser and are stored only.
    AccessRuleMode {
        Block = "block",
        Challenge = "challenge",
        Whitelist = "whitelist",
        JsChallenge = "js_challenge",
        ManagedChallenge = "managed_challenge",
    }
);

choice!(
    /// What a rule's `configuration.value` is.
    RuleTarget {
        Ip = "ip",
        Ip6 = "ip6",
        IpRange = "ip_range",
        Asn = "asn",
        Country = "country",
    }
);

/// The editable part of a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleFields {
    pub mode: AccessRuleMode,
    pub target: RuleTarget,
    /// In canonical form: `192.0.2.1`, `2001:db8::/48`, `AS13335`, `DE`.
    pub value: String,
    pub notes: String,
}

/// A stored zone access rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessRule {
    pub id: String,
    pub zone_id: String,
    pub fields: RuleFields,
    pub created_on: DateTime<Utc>,
    pub modified_on: DateTime<Utc>,
}

/// Cloudflare's access rule object.
impl Serialize for AccessRule {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let f = &self.fields;
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("id", &self.id)?;
        map.serialize_entry("mode", &f.mode)?;
        map.serialize_entry("allowed_modes", AccessRuleMode::ALL)?;
        map.serialize_entry(
            "configuration",
            &serde_json::json!({"target": f.target, "value": f.value}),
        )?;
        map.serialize_entry("notes", &f.notes)?;
        map.serialize_entry("created_on", &crate::timestamp(self.created_on))?;
        map.serialize_entry("modified_on", &crate::timestamp(self.modified_on))?;
        // The SDKs type `scope.type` as "user" or "organization", which a zone's rule is
        // neither: the scope names the zone by id alone.
        map.serialize_entry("scope", &serde_json::json!({"id": self.zone_id}))?;
        map.end()
    }
}

fn invalid(message: impl Into<String>) -> Invalid {
    Invalid::new(codes::INVALID_FIELD, message)
}

fn string<'a>(body: &'a Map<String, Value>, key: &str) -> Result<Option<&'a str>, Invalid> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(invalid(format!("{key}: expected a string, got {other}"))),
    }
}

/// Checks `value` for `target` and returns its canonical form.
pub fn canonical_value(target: RuleTarget, value: &str) -> Result<String, Invalid> {
    let bad = |what: &str| invalid(format!("configuration.value: \"{value}\" is not {what}"));
    let value = value.trim();
    match target {
        RuleTarget::Ip => value
            .parse::<Ipv4Addr>()
            .map(|ip| ip.to_string())
            .map_err(|_| bad("an IPv4 address")),
        RuleTarget::Ip6 => value
            .parse::<Ipv6Addr>()
            .map(|ip| ip.to_string())
            .map_err(|_| bad("an IPv6 address")),
        RuleTarget::IpRange => {
            let net: IpNet = value.parse().map_err(|_| bad("an IP range"))?;
            let allowed: &[u8] = match net {
                IpNet::V4(_) => &[16, 24],
                IpNet::V6(_) => &[32, 48, 64],
            };
            if !allowed.contains(&net.prefix_len()) {
                return Err(bad(
                    "a /16 or /24 IPv4 range, or a /32, /48 or /64 IPv6 range",
                ));
            }
            if net.trunc() != net {
                return Err(bad(&format!(
                    "a range's first address (did you mean {}?)",
                    net.trunc()
                )));
            }
            Ok(net.to_string())
        }
        RuleTarget::Asn => {
            let upper = value.to_ascii_uppercase();
            match upper.strip_prefix("AS").map(str::parse::<u32>) {
                // Digits only (no sign), within 32 bits; canonical without leading zeros.
                Some(Ok(n)) if upper[2..].bytes().all(|b| b.is_ascii_digit()) => {
                    Ok(format!("AS{n}"))
                }
                _ => Err(bad("an AS number like AS13335")),
            }
        }
        RuleTarget::Country => {
            let upper = value.to_ascii_uppercase();
            if upper.len() == 2 && upper.bytes().all(|b| b.is_ascii_alphanumeric()) {
                Ok(upper)
            } else {
                Err(bad("a two-letter country code"))
            }
        }
    }
}

impl RuleFields {
    /// The body of `POST .../access_rules/rules`: `mode` and `configuration` are required.
    pub fn from_json(body: &Value) -> Result<RuleFields, Invalid> {
        let body = object(body)?;
        let mode = string(body, "mode")?.ok_or_else(|| invalid("mode: required"))?;
        let mode = AccessRuleMode::parse_field(mode, "mode")?;
        let (target, value) = match body.get("configuration") {
            None | Some(Value::Null) => return Err(invalid("configuration: required")),
            Some(c) => configuration(c)?,
        };
        Ok(RuleFields {
            mode,
            target,
            value,
            notes: string(body, "notes")?.unwrap_or_default().to_owned(),
        })
    }

    /// These fields with what a `PATCH` body sets (`mode`, `notes`, `configuration`) changed.
    pub fn patched(&self, body: &Value) -> Result<RuleFields, Invalid> {
        let body = object(body)?;
        let mut next = self.clone();
        if let Some(mode) = string(body, "mode")? {
            next.mode = AccessRuleMode::parse_field(mode, "mode")?;
        }
        if let Some(notes) = string(body, "notes")? {
            next.notes = notes.to_owned();
        }
        if let Some(c) = body.get("configuration").filter(|c| !c.is_null()) {
            (next.target, next.value) = configuration(c)?;
        }
        Ok(next)
    }
}

fn object(body: &Value) -> Result<&Map<String, Value>, Invalid> {
    let body = body
        .as_object()
        .ok_or_else(|| invalid("the body must be a JSON object"))?;
    if let Some(key) = body
        .keys()
        .find(|k| !matches!(k.as_str(), "mode" | "configuration" | "notes"))
    {
        return Err(Invalid::new(
            codes::UNKNOWN_FIELD,
            format!("{key}: an access rule has no such field"),
        ));
    }
    Ok(body)
}

fn configuration(c: &Value) -> Result<(RuleTarget, String), Invalid> {
    let c = c
        .as_object()
        .ok_or_else(|| invalid("configuration: expected an object with target and value"))?;
    let target = string(c, "target")?.ok_or_else(|| invalid("configuration.target: required"))?;
    let target = RuleTarget::parse_field(target, "configuration.target")?;
    let value = string(c, "value")?.ok_or_else(|| invalid("configuration.value: required"))?;
    Ok((target, canonical_value(target, value)?))
}

/// Where a client address is, as a geolocation database tells: its country (ISO 3166 code,
/// upper case) and its autonomous system. Unknown parts are `None`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Location {
    pub country: Option<String>,
    pub asn: Option<u32>,
}

/// Addresses, ranges, countries and AS numbers one mode's rules name.
#[derive(Debug, Default)]
struct IpSet {
    addresses: HashSet<IpAddr>,
    ranges: Vec<IpNet>,
    countries: HashSet<String>,
    asns: HashSet<u32>,
}

impl IpSet {
    fn contains(&self, ip: IpAddr, at: &Location) -> bool {
        self.addresses.contains(&ip)
            || self.ranges.iter().any(|r| r.contains(&ip))
            || at
                .country
                .as_ref()
                .is_some_and(|c| self.countries.contains(c))
            || at.asn.is_some_and(|a| self.asns.contains(&a))
    }

    fn by_location(&self) -> bool {
        !self.countries.is_empty() || !self.asns.is_empty()
    }
}

/// A zone's access rules as `ip_firewall` applies them to a new client: a `whitelist` rule
/// admits, else a `block` rule refuses, else the client is admitted. Rules on `asn` and
/// `country` match through the client's `Location`; without one they match no one.
#[derive(Debug, Default)]
pub struct Firewall {
    allow: IpSet,
    block: IpSet,
}

impl Firewall {
    pub fn new<'a>(rules: impl IntoIterator<Item = &'a AccessRule>) -> Firewall {
        let mut firewall = Firewall::default();
        for rule in rules {
            let set = match rule.fields.mode {
                AccessRuleMode::Whitelist => &mut firewall.allow,
                AccessRuleMode::Block => &mut firewall.block,
                _ => continue,
            };
            let value = &rule.fields.value;
            match rule.fields.target {
                RuleTarget::Ip | RuleTarget::Ip6 => set.addresses.extend(value.parse::<IpAddr>()),
                RuleTarget::IpRange => set.ranges.extend(value.parse::<IpNet>()),
                RuleTarget::Country => {
                    set.countries.insert(value.clone());
                }
                RuleTarget::Asn => set.asns.extend(value[2..].parse::<u32>()),
            }
        }
        firewall
    }

    /// Whether some rule names a country or an AS: then a client's `Location` is needed.
    pub fn by_location(&self) -> bool {
        self.allow.by_location() || self.block.by_location()
    }

    /// Whether a client at `ip` may connect, judged by its address alone.
    pub fn admits(&self, ip: IpAddr) -> bool {
        self.admits_at(ip, &Location::default())
    }

    /// Whether a client at `ip`, located at `at`, may connect.
    pub fn admits_at(&self, ip: IpAddr, at: &Location) -> bool {
        let ip = ip.to_canonical();
        self.allow.contains(ip, at) || !self.block.contains(ip, at)
    }
}
