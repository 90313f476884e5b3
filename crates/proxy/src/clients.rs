//! Open TCP connections per client, so that one client cannot take every slot of the node.
//! A client is an IPv4 address or an IPv6 /64 (one host's usual allocation).

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

/// Which client an address belongs to.
fn client_of(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        // The /64 prefix, kept apart from every IPv4 key by a bit no IPv4 key has.
        IpAddr::V6(v6) => (u128::from(v6) >> 64) | (1 << 127),
    }
}

/// Shards of the table: edge workers taking slots of different clients rarely share a lock.
const SHARDS: usize = 64;

/// Open connections by client, each within `limit`.
pub(crate) struct PerClient {
    limit: usize,
    /// Which shard a client is in; keyed per process, so clients cannot aim at one shard.
    shard_of: RandomState,
    open: Box<[Mutex<HashMap<u128, usize>>]>,
}

/// One open connection of a client; gives its slot back when dropped.
pub(crate) struct ClientSlot {
    table: Arc<PerClient>,
    client: u128,
}

impl PerClient {
    pub fn new(limit: usize) -> PerClient {
        PerClient {
            limit,
            shard_of: RandomState::new(),
            open: (0..SHARDS).map(|_| Mutex::default()).collect(),
        }
    }

    fn shard(&self, client: u128) -> MutexGuard<'_, HashMap<u128, usize>> {
        let i = self.shard_of.hash_one(client) as usize % SHARDS;
        self.open[i].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A slot for one more connection of `ip`'s client, or `None` when it holds `limit`.
    pub fn take(self: &Arc<Self>, ip: IpAddr) -> Option<ClientSlot> {
        let client = client_of(ip);
        let mut open = self.shard(client);
        let count = open.entry(client).or_insert(0);
        if *count >= self.limit {
            return None;
        }
        *count += 1;
        Some(ClientSlot {
            table: self.clone(),
            client,
        })
    }

    #[cfg(test)]
    fn clients(&self) -> usize {
        self.open.iter().map(|s| s.lock().unwrap().len()).sum()
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut open = self.table.shard(self.client);
        if let Some(count) = open.get_mut(&self.client) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.client);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_client_gets_at_most_its_limit_and_slots_come_back() {
        let table = Arc::new(PerClient::new(2));
        let a = table.take(ip("192.0.2.1")).unwrap();
        let _b = table.take(ip("192.0.2.1")).unwrap();
        assert!(table.take(ip("192.0.2.1")).is_none());
        assert!(table.take(ip("192.0.2.2")).is_some(), "another client");
        drop(a);
        assert!(table.take(ip("192.0.2.1")).is_some());
    }

    #[test]
    fn an_ipv6_client_is_its_slash_64_and_never_an_ipv4_one() {
        let table = Arc::new(PerClient::new(1));
        let _a = table.take(ip("2001:db8:1:2::1")).unwrap();
        assert!(table.take(ip("2001:db8:1:2:ffff::9")).is_none(), "same /64");
        let _b = table.take(ip("2001:db8:1:3::1")).unwrap();
        // ::c000:201 has the same low bits as 192.0.2.1 would in a plain u128.
        let _c = table.take(ip("192.0.2.1")).unwrap();
        let _d = table.take(ip("::")).unwrap();
        assert_eq!(table.clients(), 4);
    }

    #[test]
    fn an_idle_client_leaves_no_entry() {
        let table = Arc::new(PerClient::new(3));
        drop(table.take(ip("198.51.100.7")).unwrap());
        assert_eq!(table.clients(), 0);
    }
}
