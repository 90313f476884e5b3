//! Where apps listen: dynamic edge addresses assigned per hostname from the node's pools, and the
//! rule that no two apps claim the same (address, transport, port).

use crate::{
    codes, App, AppConfig, Connectivity, EdgeIndex, EdgeIps, Invalid, Policy, PortRange, Transport,
};
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

/// The edge addresses for `config`: its static IPs, or for dynamic apps one address per family
/// that `connectivity` asks for. A hostname keeps the addresses it already has (its other apps
/// share them; an update keeps its own); a new hostname gets a pool address no other hostname
/// uses, or failing that one where its ports are free. `index` holds every app of the node;
/// `previous` (the app an update changes) counts as none of them.
pub fn assign_edge_addresses(
    config: &AppConfig,
    previous: Option<&App>,
    index: &EdgeIndex,
    policy: &Policy,
) -> Result<Vec<IpAddr>, Invalid> {
    let except = previous.map(|p| p.id.as_str());
    let addresses = match &config.edge_ips {
        EdgeIps::Static { ips } => ips.clone(),
        EdgeIps::Dynamic { connectivity } => {
            let family = |pool| dynamic_address(config, previous, index, pool);
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
        if let Some((id, name)) = index.conflict(*ip, transport, ports, except) {
            return Err(Invalid::new(
                codes::PROTOCOL,
                format!(
                    "protocol: {transport} port(s) {ports} on edge address {ip} are already used by app {id} ({name})"
                ),
            ));
        }
    }
    Ok(addresses)
}

fn dynamic_address(
    config: &AppConfig,
    previous: Option<&App>,
    index: &EdgeIndex,
    pool: IpNet,
) -> Result<IpAddr, Invalid> {
    let host = config.dns.name.to_ascii_lowercase();
    let v4 = pool.addr().is_ipv4();
    let except = previous.map(|p| p.id.as_str());
    let own = || {
        previous
            .filter(|p| {
                matches!(p.config.edge_ips, EdgeIps::Dynamic { .. })
                    && p.config.dns.name.eq_ignore_ascii_case(&host)
            })
            .into_iter()
            .flat_map(|p| p.edge_addresses.iter().copied())
            .filter(|ip| ip.is_ipv4() == v4)
    };
    // Its hostname's lowest address in the family, if it has one.
    if let Some(ip) = index
        .address_of_host(&host, v4, except)
        .into_iter()
        .chain(own())
        .min()
    {
        return Ok(ip);
    }
    let (transport, ports) = (config.protocol.transport, config.protocol.ports);
    index
        .first_free(pool, POOL_SCAN_LIMIT, except)
        .or_else(|| {
            // A full pool: an address where the ports are free (rare, so a walk).
            pool.hosts()
                .take(POOL_SCAN_LIMIT)
                .find(|ip| index.conflict(*ip, transport, ports, except).is_none())
        })
        .ok_or_else(|| {
            Invalid::new(
                codes::EDGE_POOL_EXHAUSTED,
                format!(
                    "edge_ips: no address of the edge pool {pool} is free for {transport} port(s) {ports}"
                ),
            )
        })
}
