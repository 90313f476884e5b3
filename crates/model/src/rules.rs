//! Rules that need more than the request body: the zone, the app being replaced, node policy.

use crate::{
    codes, hostname, AccessRuleMode, App, AppConfig, EdgeIps, Invalid, RuleFields, RuleTarget, Zone,
};
use ipnet::IpNet;

/// What this node allows, from `serve`'s flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// The most edge ports one app may claim (`tcp/1-65535` would be 65535 listeners).
    pub max_ports_per_app: u32,
    /// Where static `edge_ips` may lie.
    pub static_edge_allow: Vec<IpNet>,
    /// Where dynamic apps get their IPv4 address.
    pub ipv4_pool: IpNet,
    /// Where dynamic apps get their IPv6 address.
    pub ipv6_pool: IpNet,
    /// Whether the node has a geolocation database, which `country` and `asn` rules need.
    pub geolocation: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            max_ports_per_app: 1024,
            static_edge_allow: vec![
                "127.0.0.0/8".parse().expect("literal"),
                "::1/128".parse().expect("literal"),
            ],
            ipv4_pool: "127.0.1.0/24".parse().expect("literal"),
            ipv6_pool: "::1/128".parse().expect("literal"),
            geolocation: false,
        }
    }
}

impl AppConfig {
    /// Checks the config against its zone, the app it replaces (on update) and the node's policy.
    pub fn check_in_zone(
        &self,
        zone: &Zone,
        previous: Option<&App>,
        policy: &Policy,
    ) -> Result<(), Invalid> {
        if !hostname::in_zone(&self.dns.name, &zone.name) {
            return Err(Invalid::new(
                codes::HOSTNAME_ZONE,
                format!(
                    "dns.name: \"{}\" is not in zone \"{}\"; use the zone's name or a name below it",
                    self.dns.name, zone.name
                ),
            ));
        }
        if let Some(previous) = previous {
            if previous.config.dns.kind != self.dns.kind {
                return Err(Invalid::new(
                    codes::EDGE_IPS_TYPE,
                    format!(
                        "dns.type: cannot change from \"{}\" to \"{}\" on an existing app; delete it and create a new one",
                        previous.config.dns.kind, self.dns.kind
                    ),
                ));
            }
        }
        let ports = self.protocol.ports.count();
        if ports > policy.max_ports_per_app {
            return Err(Invalid::new(
                codes::PROTOCOL,
                format!(
                    "protocol: \"{}\" spans {ports} ports; this node allows at most {} per app",
                    self.protocol.as_str(),
                    policy.max_ports_per_app
                ),
            ));
        }
        if let EdgeIps::Static { ips } = &self.edge_ips {
            if let Some(ip) = ips
                .iter()
                .find(|ip| !policy.static_edge_allow.iter().any(|net| net.contains(*ip)))
            {
                let allowed: Vec<String> = policy
                    .static_edge_allow
                    .iter()
                    .map(|n| n.to_string())
                    .collect();
                return Err(Invalid::new(
                    codes::EDGE_IPS_NOT_ALLOWED,
                    format!(
                        "edge_ips.ips: {ip} is not an address this node may serve (allowed: {})",
                        allowed.join(", ")
                    ),
                ));
            }
        }
        Ok(())
    }
}

impl RuleFields {
    /// Checks the rule against the node: a `block` or `whitelist` rule on a country or an AS
    /// needs a geolocation database, or it would match no one.
    pub fn check_on_node(&self, policy: &Policy) -> Result<(), Invalid> {
        let by_location = matches!(self.target, RuleTarget::Country | RuleTarget::Asn);
        let acts = matches!(self.mode, AccessRuleMode::Block | AccessRuleMode::Whitelist);
        if by_location && acts && !policy.geolocation {
            return Err(Invalid::new(
                codes::INVALID_FIELD,
                format!(
                    "configuration.target: \"{}\" rules need a geolocation database, and this node has none (start spectra serve with --geoip-db FILE)",
                    self.target
                ),
            ));
        }
        Ok(())
    }
}
