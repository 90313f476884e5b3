//! Where apps listen: dynamic edge addresses assigned per hostname from the node's pools, and the
//! rule that no two apps claim the same (address, transport, port).

use crate::{codes, App, AppConfig, Connectivity, EdgeIps, Invalid, Policy, PortRange, Transport};
use ipnet::IpNet;
use std::net::IpAddr;

/// How many addresses of a pool are tried before it counts as full (an IPv6 /64 is endless).
pub(crate) const POOL_SCAN_LIMIT: usize = 65_536;

impl App {
    /// The listening sockets the app claims: each edge address with its transport and ports.
    pub fn claims(&self) -> impl Iterator<Item = (IpAddr, Transport, PortRange)> + '_ {
        let protocol = &self.config.protocol;
        self.edge_addresses
            .iter()
            .map(move |ip| (*ip, protocol.transport, protocol.ports))
    }
}

fn overlaps(a: PortRange, b: PortRange) -> bool {
    a.start <= b.end && b.start <= a.end
}

/// The first app of `others` that claims any of these sockets.
fn conflict<'a>(
    ip: IpAddr,
    transport: Transport,
    ports: PortRange,
    others: &[&'a App],
) -> Option<&'a App> {
    others.iter().copied().find(|other| {
        other
            .claims()
            .any(|(oip, ot, op)| oip == ip && ot == transport && overlaps(op, ports))
    })
}

/// The edge addresses for `config`: its static IPs, or for dynamic apps one address per family
/// that `connectivity` asks for. A hostname keeps the addresses it already has (its other apps
/// share them; an update keeps its own); a new hostname gets a pool address no other hostname
/// uses, or failing that one where its ports are free. `others` are every other app of the node.
pub fn assign_edge_addresses(
    config: &AppConfig,
    previous: Option<&App>,
    others: &[&App],
    policy: &Policy,
) -> Result<Vec<IpAddr>, Invalid> {
    let addresses = match &config.edge_ips {
        EdgeIps::Static { ips } => ips.clone(),
        EdgeIps::Dynamic { connectivity } => {
            let family = |pool| dynamic_address(config, previous, others, pool);
            match connectivity {
                Connectivity::Ipv4 => vec![family(policy.ipv4_pool)?],
                Connectivity::Ipv6 => vec![family(policy.ipv6_pool)?],
                // "all" takes what each family can give, and fails only if neither can
                // (with the default one-address IPv6 pool, a second app on a port gets IPv4 only).
                Connectivity::All => {
                    let (v4, v6) = (family(policy.ipv4_pool), family(policy.ipv6_pool));
                    match (v4, v6) {
                        (Err(e), Err(_)) => return Err(e),
                        (v4, v6) => v4.into_iter().chain(v6).collect(),
                    }
                }
            }
        }
    };
    let (transport, ports) = (config.protocol.transport, config.protocol.ports);
    for ip in &addresses {
        if let Some(other) = conflict(*ip, transport, ports, others) {
            return Err(Invalid::new(
                codes::PROTOCOL,
                format!(
                    "protocol: {transport} port(s) {ports} on edge address {ip} are already used by app {} ({})",
                    other.id, other.config.dns.name
                ),
            ));
        }
    }
    Ok(addresses)
}

fn same_family(a: IpAddr, b: IpAddr) -> bool {
    a.is_ipv4() == b.is_ipv4()
}

fn is_dynamic_app_of(app: &App, hostname: &str) -> bool {
    matches!(app.config.edge_ips, EdgeIps::Dynamic { .. })
        && app.config.dns.name.eq_ignore_ascii_case(hostname)
}

fn dynamic_address(
    config: &AppConfig,
    previous: Option<&App>,
    others: &[&App],
    pool: IpNet,
) -> Result<IpAddr, Invalid> {
    let hostname = &config.dns.name;
    let in_family = |ip: &IpAddr| same_family(*ip, pool.addr());
    let known = others
        .iter()
        .copied()
        .chain(previous)
        .filter(|app| is_dynamic_app_of(app, hostname))
        .flat_map(|app| app.edge_addresses.iter().copied())
        .find(in_family);
    if let Some(ip) = known {
        return Ok(ip);
    }
    let taken = |ip: IpAddr| {
        others
            .iter()
            .any(|app| !is_dynamic_app_of(app, hostname) && app.edge_addresses.contains(&ip))
    };
    let (transport, ports) = (config.protocol.transport, config.protocol.ports);
    let candidates = || pool.hosts().take(POOL_SCAN_LIMIT);
    candidates()
        .find(|ip| !taken(*ip))
        .or_else(|| candidates().find(|ip| conflict(*ip, transport, ports, others).is_none()))
        .ok_or_else(|| {
            Invalid::new(
                codes::EDGE_POOL_EXHAUSTED,
                format!(
                    "edge_ips: no address of the edge pool {pool} is free for {transport} port(s) {ports}"
                ),
            )
        })
}
