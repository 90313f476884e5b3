//! The UDP flow table without I/O: one entry per client address, expired after an idle timeout
//! (refreshed by traffic either way) or once closed. Time is passed in, in milliseconds.
//! (The node-wide bound on flows is a semaphore the listeners share.)

use std::collections::HashMap;
use std::net::SocketAddr;

/// A table of flows by client address. `V` reports its own last activity (the reply path
/// refreshes it from another task), so expiry asks each value.
pub struct FlowTable<V> {
    flows: HashMap<SocketAddr, V>,
    idle_ms: u64,
}

/// Activity of a flow, in milliseconds on the table's clock.
pub trait Activity {
    fn last_active(&self) -> u64;

    /// A closed flow (its origin refused) is gone at once.
    fn is_closed(&self) -> bool {
        false
    }
}

impl<V: Activity> FlowTable<V> {
    pub fn new(idle_ms: u64) -> Self {
        FlowTable {
            flows: HashMap::new(),
            idle_ms,
        }
    }

    fn live(&self, flow: &V, now: u64) -> bool {
        !flow.is_closed() && now.saturating_sub(flow.last_active()) < self.idle_ms
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.flows.len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }

    /// The live flow of `client`, if any (an expired or closed one counts as gone).
    pub fn get(&self, client: &SocketAddr, now: u64) -> Option<&V> {
        self.flows.get(client).filter(|v| self.live(v, now))
    }

    /// The flow of `client`, live or not.
    pub fn get_mut(&mut self, client: &SocketAddr) -> Option<&mut V> {
        self.flows.get_mut(client)
    }

    /// Adds a flow, handing back the one it replaces.
    pub fn insert(&mut self, client: SocketAddr, flow: V) -> Option<V> {
        self.flows.insert(client, flow)
    }

    pub fn remove(&mut self, client: &SocketAddr) -> Option<V> {
        self.flows.remove(client)
    }

    /// Takes out every flow idle for the timeout or longer, or closed.
    pub fn expire(&mut self, now: u64) -> Vec<(SocketAddr, V)> {
        let gone: Vec<SocketAddr> = self
            .flows
            .iter()
            .filter(|(_, v)| !self.live(v, now))
            .map(|(k, _)| *k)
            .collect();
        gone.into_iter()
            .filter_map(|k| self.flows.remove(&k).map(|v| (k, v)))
            .collect()
    }

    /// Every flow, live or not.
    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.flows.values()
    }

    /// Takes out every flow (the listener is stopping).
    pub fn drain(&mut self) -> Vec<(SocketAddr, V)> {
        self.flows.drain().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    struct F(Cell<u64>, Cell<bool>);
    impl Activity for F {
        fn last_active(&self) -> u64 {
            self.0.get()
        }
        fn is_closed(&self) -> bool {
            self.1.get()
        }
    }

    fn f(t: u64) -> F {
        F(Cell::new(t), Cell::new(false))
    }

    fn c(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn flows_expire_after_the_idle_timeout_and_activity_refreshes_them() {
        let mut t = FlowTable::new(1000);
        assert!(t.insert(c(1), f(0)).is_none());
        assert!(t.insert(c(2), f(0)).is_none());
        assert!(t.get(&c(1), 999).is_some());
        t.get(&c(2), 999).unwrap().0.set(900); // a reply refreshed it
        let gone = t.expire(1000);
        assert_eq!(gone.iter().map(|(k, _)| *k).collect::<Vec<_>>(), [c(1)]);
        assert!(t.get(&c(1), 1000).is_none());
        assert!(t.get(&c(2), 1899).is_some());
        assert!(
            t.get(&c(2), 1900).is_none(),
            "expired flows are not handed out"
        );
        assert_eq!(t.expire(1900).len(), 1);
        assert!(t.is_empty());
    }

    #[test]
    fn a_closed_flow_is_gone_at_once() {
        let mut t = FlowTable::new(60_000);
        t.insert(c(1), f(5));
        t.insert(c(2), f(5));
        t.get_mut(&c(1)).unwrap().1.set(true);
        assert!(t.get(&c(1), 6).is_none());
        assert!(t.get(&c(2), 6).is_some());
        assert_eq!(t.expire(6).len(), 1);
        assert_eq!(t.len(), 1);
        assert_eq!(t.drain().len(), 1);
    }
}
