//! Where a node's apps listen, indexed for placing one more app: the port claims on each
//! (address, transport), each hostname's dynamic addresses, who holds each address, and the runs
//! of held addresses. Kept current app by app (from a snapshot `diff`), so placing an app costs a
//! few B-tree lookups however many apps the node has.

use crate::{diff, App, AppChange, EdgeIps, PortRange, Snapshot, Transport};
use ipnet::IpNet;
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::Bound;

/// The index of the apps added to it.
#[derive(Debug, Default, Clone)]
pub struct EdgeIndex {
    members: HashMap<String, Member>,
    claims: HashMap<(IpAddr, Transport), Claims>,
    /// Each hostname's (lowercase) dynamic addresses per family (true: IPv4), with how many of
    /// its apps hold each.
    hosts: HashMap<(String, bool), BTreeMap<IpAddr, u32>>,
    holders: HashMap<IpAddr, Holders>,
    /// The maximal runs of consecutive held addresses, start to end: the first free address of
    /// a pool is one lookup away.
    runs: BTreeMap<IpAddr, IpAddr>,
}

/// What one app contributes, kept so it can be taken out again by id.
#[derive(Debug, Clone)]
struct Member {
    /// The hostname (lowercase) of a dynamic app; `None` for static edge IPs.
    dynamic_host: Option<String>,
    addresses: Vec<IpAddr>,
    transport: Transport,
    ports: PortRange,
}

/// The port ranges claimed on one (address, transport), by start port and app id.
#[derive(Debug, Default, Clone)]
struct Claims {
    by_start: BTreeMap<(u16, String), (u16, String)>,
    /// The widest range ever claimed here (end - start): a range overlapping `ports` starts at
    /// most this far below it.
    widest: u16,
}

#[derive(Debug, Default, Clone)]
struct Holders {
    statics: u32,
    dynamic: BTreeMap<String, u32>,
}

impl Holders {
    fn is_empty(&self) -> bool {
        self.statics == 0 && self.dynamic.is_empty()
    }
}

impl EdgeIndex {
    /// The index of `apps`.
    pub fn of<'a>(apps: impl IntoIterator<Item = &'a App>) -> EdgeIndex {
        let mut index = EdgeIndex::default();
        for app in apps {
            index.add(app);
        }
        index
    }

    /// How many apps are indexed.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Brings an index of `old`'s apps to `new`'s: O(changes), as `diff` is.
    pub fn update(&mut self, old: &Snapshot, new: &Snapshot) {
        for change in diff(old, new) {
            match change {
                AppChange::Added(app) | AppChange::Changed { new: app, .. } => self.add(&app),
                AppChange::Removed(app) => self.remove(&app.id),
            }
        }
    }

    /// Indexes `app`, in place of what its id held before.
    pub fn add(&mut self, app: &App) {
        self.remove(&app.id);
        let member = Member {
            dynamic_host: matches!(app.config.edge_ips, EdgeIps::Dynamic { .. })
                .then(|| app.config.dns.name.to_ascii_lowercase()),
            addresses: app.edge_addresses.clone(),
            transport: app.config.protocol.transport,
            ports: app.config.protocol.ports,
        };
        for ip in &member.addresses {
            let claims = self.claims.entry((*ip, member.transport)).or_default();
            claims.widest = claims.widest.max(member.ports.end - member.ports.start);
            claims.by_start.insert(
                (member.ports.start, app.id.clone()),
                (member.ports.end, app.config.dns.name.clone()),
            );
            let holders = self.holders.entry(*ip).or_default();
            if holders.is_empty() {
                hold(&mut self.runs, *ip);
            }
            match &member.dynamic_host {
                Some(host) => {
                    *holders.dynamic.entry(host.clone()).or_default() += 1;
                    *self
                        .hosts
                        .entry((host.clone(), ip.is_ipv4()))
                        .or_default()
                        .entry(*ip)
                        .or_default() += 1;
                }
                None => holders.statics += 1,
            }
        }
        self.members.insert(app.id.clone(), member);
    }

    /// Takes the app `id` out.
    pub fn remove(&mut self, id: &str) {
        let Some(member) = self.members.remove(id) else {
            return;
        };
        for ip in &member.addresses {
            if let Some(claims) = self.claims.get_mut(&(*ip, member.transport)) {
                claims.by_start.remove(&(member.ports.start, id.to_owned()));
                if claims.by_start.is_empty() {
                    self.claims.remove(&(*ip, member.transport));
                }
            }
            let Some(holders) = self.holders.get_mut(ip) else {
                continue;
            };
            match &member.dynamic_host {
                Some(host) => {
                    decrement(&mut holders.dynamic, host);
                    let key = (host.clone(), ip.is_ipv4());
                    if let Some(addresses) = self.hosts.get_mut(&key) {
                        decrement(addresses, ip);
                        if addresses.is_empty() {
                            self.hosts.remove(&key);
                        }
                    }
                }
                None => holders.statics = holders.statics.saturating_sub(1),
            }
            if holders.is_empty() {
                self.holders.remove(ip);
                release(&mut self.runs, *ip);
            }
        }
    }

    /// An app other than `except` that claims any of these ports on `ip`: its id and hostname.
    pub fn conflict(
        &self,
        ip: IpAddr,
        transport: Transport,
        ports: PortRange,
        except: Option<&str>,
    ) -> Option<(&str, &str)> {
        let claims = self.claims.get(&(ip, transport))?;
        let from = (ports.start.saturating_sub(claims.widest), String::new());
        claims
            .by_start
            .range((Bound::Included(from), Bound::Unbounded))
            .take_while(|((start, _), _)| *start <= ports.end)
            .find(|((_, id), (end, _))| *end >= ports.start && Some(id.as_str()) != except)
            .map(|((_, id), (_, name))| (id.as_str(), name.as_str()))
    }

    /// The address in `v4`'s family that dynamic apps of `host` (lowercase) other than
    /// `except` hold, if any.
    pub fn address_of_host(&self, host: &str, v4: bool, except: Option<&str>) -> Option<IpAddr> {
        let addresses = self.hosts.get(&(host.to_owned(), v4))?;
        let own = self.member_host(except, host);
        addresses
            .iter()
            .find(|(ip, count)| **count > u32::from(own.is_some_and(|m| m.addresses.contains(ip))))
            .map(|(ip, _)| *ip)
    }

    /// Whether `ip` is held by nobody, or only by dynamic apps of `host` (lowercase).
    pub fn is_free_for(&self, ip: IpAddr, host: &str) -> bool {
        self.holders
            .get(&ip)
            .is_none_or(|h| h.statics == 0 && h.dynamic.keys().all(|k| k == host))
    }

    /// The lowest address of `pool`'s first `limit` hosts that no app but `except` holds.
    pub fn first_free(&self, pool: IpNet, limit: usize, except: Option<&str>) -> Option<IpAddr> {
        let mut hosts = pool.hosts();
        let (first, last) = (hosts.next()?, hosts.next_back().unwrap_or(pool.addr()));
        let unheld = match self.runs.range(..=first).next_back() {
            Some((_, end)) if *end >= first => step(*end, 1),
            _ => Some(first),
        };
        let freed = self
            .members
            .get(except.unwrap_or_default())
            .into_iter()
            .flat_map(|m| m.addresses.iter().copied())
            .filter(|ip| (first..=last).contains(ip))
            .filter(|ip| self.holders.get(ip).is_some_and(|h| count(h) == 1));
        unheld
            .into_iter()
            .chain(freed)
            .filter(|ip| *ip <= last && offset(first, *ip) < limit as u128)
            .min()
    }

    fn member_host(&self, id: Option<&str>, host: &str) -> Option<&Member> {
        self.members
            .get(id?)
            .filter(|m| m.dynamic_host.as_deref() == Some(host))
    }
}

fn count(h: &Holders) -> u32 {
    h.statics + h.dynamic.values().sum::<u32>()
}

/// Counts one holder of `key` less, forgetting it at zero.
fn decrement<K: Ord>(map: &mut BTreeMap<K, u32>, key: &K) {
    if let Some(n) = map.get_mut(key) {
        *n -= 1;
        if *n == 0 {
            map.remove(key);
        }
    }
}

/// `ip` moved by `by` (+1 or -1) within its family; `None` past either end.
fn step(ip: IpAddr, by: i8) -> Option<IpAddr> {
    match ip {
        IpAddr::V4(v4) => {
            let n = u32::from(v4);
            let n = if by > 0 {
                n.checked_add(1)
            } else {
                n.checked_sub(1)
            }?;
            Some(IpAddr::V4(Ipv4Addr::from(n)))
        }
        IpAddr::V6(v6) => {
            let n = u128::from(v6);
            let n = if by > 0 {
                n.checked_add(1)
            } else {
                n.checked_sub(1)
            }?;
            Some(IpAddr::V6(Ipv6Addr::from(n)))
        }
    }
}

fn offset(first: IpAddr, ip: IpAddr) -> u128 {
    let n = |ip: IpAddr| match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    };
    n(ip).saturating_sub(n(first))
}

/// Marks `ip` (not held before) held, merging it with the runs either side.
fn hold(runs: &mut BTreeMap<IpAddr, IpAddr>, ip: IpAddr) {
    let left = runs
        .range(..ip)
        .next_back()
        .filter(|(_, end)| step(**end, 1) == Some(ip))
        .map(|(start, _)| *start);
    let right = step(ip, 1).and_then(|next| runs.remove(&next).map(|end| (next, end)));
    let end = right.map_or(ip, |(_, end)| end);
    runs.insert(left.unwrap_or(ip), end);
}

/// Marks `ip` (held before) free, splitting its run.
fn release(runs: &mut BTreeMap<IpAddr, IpAddr>, ip: IpAddr) {
    let Some((start, end)) = runs.range(..=ip).next_back().map(|(s, e)| (*s, *e)) else {
        return;
    };
    if end < ip {
        return;
    }
    runs.remove(&start);
    if start < ip {
        runs.insert(start, step(ip, -1).unwrap_or(start));
    }
    if ip < end {
        if let Some(next) = step(ip, 1) {
            runs.insert(next, end);
        }
    }
}
