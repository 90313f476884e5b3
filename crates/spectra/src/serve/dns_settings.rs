//! The DNS part of `serve`'s settings: where the authoritative server answers, the zones'
//! apex, and the server RFC 2136 updates go to.

use super::args::ServeArgs;
use std::net::SocketAddr;
use std::path::PathBuf;

/// The DNS settings: the server's addresses, the zones' apex, the server to update.
#[derive(Debug)]
pub struct DnsSettings {
    /// Where the authoritative server answers (empty: it does not run).
    pub listen: Vec<SocketAddr>,
    pub zone: dns::ZoneSettings,
    /// `--dns-update`, with its TSIG key file.
    pub update: Option<(SocketAddr, Option<PathBuf>)>,
}

/// The default TTL of published records.
pub const DEFAULT_DNS_TTL: u32 = 30;

pub(super) fn dns_settings(args: &ServeArgs, node_name: &str) -> anyhow::Result<DnsSettings> {
    let nameservers = args
        .dns_nameservers
        .clone()
        .unwrap_or_else(|| vec![node_name.to_owned()]);
    let ttl = args.dns_ttl.unwrap_or(DEFAULT_DNS_TTL);
    anyhow::ensure!(
        ttl <= 604_800,
        "--dns-ttl {ttl}: at most a week (604800 seconds)"
    );
    let zone = dns::ZoneSettings::new(ttl, &nameservers)
        .map_err(|e| anyhow::anyhow!("--dns-nameservers: {e}"))?;
    let update = match (args.dns_update, &args.dns_update_key) {
        (Some(server), key) => Some((server, key.clone())),
        (None, Some(_)) => anyhow::bail!("--dns-update-key needs --dns-update"),
        (None, None) => None,
    };
    Ok(DnsSettings {
        listen: args.dns_listen.clone().unwrap_or_default(),
        zone,
        update,
    })
}
