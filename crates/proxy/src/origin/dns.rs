//! Origins named by DNS (`origin_dns`): resolved with hickory, kept for the app's `ttl`, and
//! refreshed in the background before it runs out. A failed refresh keeps the last good answer.

use super::balancer::{Balancer, Target};
use hickory_resolver::config::{
    LookupIpStrategy, NameServerConfigGroup, ResolveHosts, ResolverConfig,
};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::TokioResolver;
use model::{OriginDns, OriginDnsType};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Mutex, Weak};
use std::time::Duration;
use tokio::sync::watch;
use tracing::Instrument;

/// The `ttl` of an `origin_dns` that did not set one (the API's minimum).
const DEFAULT_TTL: Duration = Duration::from_secs(600);
/// How soon a failed resolution is tried again.
const RETRY: Duration = Duration::from_secs(5);

/// A resolver asking `server`, or the system's resolvers (resolv.conf) when `None`; without a
/// usable resolv.conf, one that resolves nothing.
pub fn resolver(server: Option<SocketAddr>) -> TokioResolver {
    let mut builder = match server {
        Some(addr) => {
            let servers = NameServerConfigGroup::from_ips_clear(&[addr.ip()], addr.port(), true);
            let config = ResolverConfig::from_parts(None, vec![], servers);
            let mut b =
                TokioResolver::builder_with_config(config, TokioConnectionProvider::default());
            b.options_mut().use_hosts_file = ResolveHosts::Never;
            b
        }
        None => match TokioResolver::builder_tokio() {
            Ok(b) => b,
            Err(error) => {
                // No usable resolv.conf: serve anyway; origin_dns names fail to resolve (531).
                tracing::warn!(%error, "no system DNS configuration; origin_dns needs --resolver");
                let empty = ResolverConfig::from_parts(None, vec![], NameServerConfigGroup::new());
                TokioResolver::builder_with_config(empty, TokioConnectionProvider::default())
            }
        },
    };
    let options = builder.options_mut();
    // Spectra keeps each answer for its app's ttl itself; the resolver must not serve older ones.
    options.cache_size = 0;
    options.ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
    options.timeout = Duration::from_secs(2);
    options.attempts = 2;
    builder.build()
}

fn targets(
    ips: impl Iterator<Item = IpAddr>,
    port: u16,
    priority: u16,
    weight: u16,
) -> impl Iterator<Item = Target> {
    ips.map(move |ip| Target {
        addr: SocketAddr::new(ip, port),
        priority,
        weight,
    })
}

/// One resolution of `dns`. `port` is the origin port (`origin_port`'s first port); for SRV it
/// overrides the records' ports when set.
async fn resolve(
    resolver: &TokioResolver,
    dns: &OriginDns,
    port: Option<u16>,
) -> Result<Vec<Target>, String> {
    let name = dns.name.as_str();
    let fixed = port.unwrap_or(0);
    let found: Vec<Target> = match dns.record_type() {
        OriginDnsType::A => {
            let answer = resolver
                .ipv4_lookup(name)
                .await
                .map_err(|e| e.to_string())?;
            targets(answer.iter().map(|a| IpAddr::V4(a.0)), fixed, 0, 0).collect()
        }
        OriginDnsType::Aaaa => {
            let answer = resolver
                .ipv6_lookup(name)
                .await
                .map_err(|e| e.to_string())?;
            targets(answer.iter().map(|a| IpAddr::V6(a.0)), fixed, 0, 0).collect()
        }
        OriginDnsType::Any => {
            let answer = resolver.lookup_ip(name).await.map_err(|e| e.to_string())?;
            targets(answer.iter(), fixed, 0, 0).collect()
        }
        OriginDnsType::Srv => {
            let answer = resolver.srv_lookup(name).await.map_err(|e| e.to_string())?;
            let mut all = Vec::new();
            for srv in answer.iter() {
                match resolver.lookup_ip(srv.target().clone()).await {
                    Ok(ips) => all.extend(targets(
                        ips.iter(),
                        port.unwrap_or(srv.port()),
                        srv.priority(),
                        srv.weight(),
                    )),
                    Err(e) => {
                        tracing::warn!(target_name = %srv.target(), error = %e, "SRV target did not resolve")
                    }
                }
            }
            all
        }
    };
    if found.is_empty() {
        return Err("no usable records".into());
    }
    Ok(found)
}

/// Keeps `balancer` filled with the current answer for `dns` while it exists; `ready` turns
/// true once the first resolution has been tried, whatever its outcome.
pub(crate) fn refresh(
    resolver: TokioResolver,
    dns: OriginDns,
    port: Option<u16>,
    max_ttl: Option<Duration>,
    balancer: Weak<Mutex<Balancer>>,
    ready: watch::Sender<bool>,
    span: tracing::Span,
) {
    let ttl = dns
        .ttl
        .map_or(DEFAULT_TTL, |t| Duration::from_secs(u64::from(t)))
        .min(max_ttl.unwrap_or(Duration::MAX));
    let task = async move {
        let mut resolved_once = false;
        while balancer.strong_count() > 0 {
            let next = match resolve(&resolver, &dns, port).await {
                Ok(found) => {
                    tracing::debug!(name = %dns.name, origins = found.len(), "origin name resolved");
                    let Some(b) = balancer.upgrade() else { return };
                    b.lock().unwrap_or_else(|e| e.into_inner()).replace(found);
                    resolved_once = true;
                    // Refresh before the answer runs out.
                    ttl.mul_f64(0.9).max(Duration::from_millis(100))
                }
                Err(error) if resolved_once => {
                    tracing::warn!(name = %dns.name, %error, "origin name refresh failed; keeping the last answer");
                    RETRY.min(ttl)
                }
                Err(error) => {
                    tracing::warn!(name = %dns.name, %error, "origin name did not resolve");
                    RETRY.min(ttl)
                }
            };
            ready.send_replace(true);
            tokio::time::sleep(next).await;
        }
    };
    tokio::spawn(task.instrument(span));
}
