//! Origin selection without I/O: least-connections of two random choices, SRV priority and weight
//! (RFC 2782), failover order, and ejection of failing origins with exponential back-off.
//! Time and randomness are passed in, so the rules are tested deterministically.

use rand::Rng;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// The first ejection lasts this long; each further failure doubles it, up to `MAX_EJECTION`.
pub const BASE_EJECTION: Duration = Duration::from_secs(1);
pub const MAX_EJECTION: Duration = Duration::from_secs(60);

/// One origin: its address (with the first port of its range) and its SRV priority and weight
/// (0 and 0 for origins that are not from SRV records).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Target {
    pub addr: SocketAddr,
    pub priority: u16,
    pub weight: u16,
}

impl Target {
    pub fn plain(addr: SocketAddr) -> Self {
        Target {
            addr,
            priority: 0,
            weight: 0,
        }
    }
}

#[derive(Debug, Clone)]
struct State {
    target: Target,
    active: u32,
    failures: u32,
    ejected_until: Option<Instant>,
}

/// The origins of one app with their open connections and health.
#[derive(Debug, Clone, Default)]
pub struct Balancer {
    origins: Vec<State>,
}

impl Balancer {
    pub fn new(targets: impl IntoIterator<Item = Target>) -> Self {
        let mut b = Balancer::default();
        b.replace(targets);
        b
    }

    /// Replaces the set of origins (a DNS refresh), keeping the state of those that stay.
    pub fn replace(&mut self, targets: impl IntoIterator<Item = Target>) {
        let old = std::mem::take(&mut self.origins);
        for target in targets {
            let state = old.iter().find(|s| s.target.addr == target.addr).cloned();
            self.origins.push(match state {
                Some(s) => State { target, ..s },
                None => State {
                    target,
                    active: 0,
                    failures: 0,
                    ejected_until: None,
                },
            });
        }
    }

    /// The order to try origins in: healthy ones by priority (two random choices, the one with
    /// fewer connections first; or by SRV weight), then ejected ones, soonest back first.
    pub fn plan(&self, now: Instant, rng: &mut impl Rng) -> Vec<Target> {
        let healthy = |s: &&State| s.ejected_until.is_none_or(|t| t <= now);
        let mut priorities: Vec<u16> = self
            .origins
            .iter()
            .filter(healthy)
            .map(|s| s.target.priority)
            .collect();
        priorities.sort_unstable();
        priorities.dedup();
        let mut plan = Vec::with_capacity(self.origins.len());
        for priority in priorities {
            let group: Vec<&State> = self
                .origins
                .iter()
                .filter(healthy)
                .filter(|s| s.target.priority == priority)
                .collect();
            if group
                .iter()
                .any(|s| s.target.weight != group[0].target.weight)
            {
                plan.extend(weighted_order(group, rng));
            } else {
                plan.extend(least_connections_order(group, rng));
            }
        }
        let mut ejected: Vec<&State> = self.origins.iter().filter(|s| !healthy(s)).collect();
        ejected.sort_by_key(|s| s.ejected_until);
        plan.extend(ejected.into_iter().map(|s| s.target));
        plan
    }

    fn state(&mut self, addr: SocketAddr) -> Option<&mut State> {
        self.origins.iter_mut().find(|s| s.target.addr == addr)
    }

    /// A connection to `addr` is up: it counts as active, and the origin is healthy again.
    pub fn connected(&mut self, addr: SocketAddr) {
        self.opened(addr);
        self.answered(addr);
    }

    /// A flow to `addr` opened (UDP): it counts as active; its health is not known yet.
    pub fn opened(&mut self, addr: SocketAddr) {
        if let Some(s) = self.state(addr) {
            s.active += 1;
        }
    }

    /// `addr` answered: it is healthy again.
    pub fn answered(&mut self, addr: SocketAddr) {
        if let Some(s) = self.state(addr) {
            s.failures = 0;
            s.ejected_until = None;
        }
    }

    pub fn closed(&mut self, addr: SocketAddr) {
        if let Some(s) = self.state(addr) {
            s.active = s.active.saturating_sub(1);
        }
    }

    /// Connecting to `addr` failed: eject it for a back-off that doubles with each failure.
    pub fn failed(&mut self, addr: SocketAddr, now: Instant) {
        if let Some(s) = self.state(addr) {
            s.failures += 1;
            let backoff = BASE_EJECTION.saturating_mul(1 << (s.failures - 1).min(16));
            s.ejected_until = Some(now + backoff.min(MAX_EJECTION));
        }
    }
}

/// Two random choices, the less loaded first; the rest follow by load.
fn least_connections_order(mut group: Vec<&State>, rng: &mut impl Rng) -> Vec<Target> {
    if group.len() >= 2 {
        let a = rng.random_range(0..group.len());
        let mut b = rng.random_range(0..group.len() - 1);
        if b >= a {
            b += 1;
        }
        let first = if group[b].active < group[a].active {
            b
        } else {
            a
        };
        group.swap(0, first);
        group[1..].sort_by_key(|s| s.active);
    }
    group.into_iter().map(|s| s.target).collect()
}

/// RFC 2782's weighted random order: each pick has a chance proportional to its weight
/// (zero-weight records get a small chance, and come last most of the time).
fn weighted_order(mut group: Vec<&State>, rng: &mut impl Rng) -> Vec<Target> {
    let mut order = Vec::with_capacity(group.len());
    group.sort_by_key(|s| s.target.weight);
    while !group.is_empty() {
        let total: u32 = group.iter().map(|s| u32::from(s.target.weight)).sum();
        let pick = rng.random_range(0..=total);
        let mut running = 0;
        let index = group
            .iter()
            .position(|s| {
                running += u32::from(s.target.weight);
                running >= pick
            })
            .unwrap_or(0);
        order.push(group.remove(index).target);
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn t(port: u16) -> Target {
        Target::plain(SocketAddr::from(([127, 0, 0, 1], port)))
    }

    #[test]
    fn two_choices_prefer_the_less_loaded_origin() {
        let mut b = Balancer::new([t(1), t(2)]);
        for _ in 0..3 {
            b.connected(t(1).addr);
        }
        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..20 {
            assert_eq!(b.plan(Instant::now(), &mut rng), vec![t(2), t(1)]);
        }
    }

    #[test]
    fn load_spreads_over_equal_origins() {
        let mut b = Balancer::new([t(1), t(2), t(3)]);
        let mut rng = StdRng::seed_from_u64(1);
        for _ in 0..300 {
            let first = b.plan(Instant::now(), &mut rng)[0];
            b.connected(first.addr);
        }
        let loads: Vec<u32> = b.origins.iter().map(|s| s.active).collect();
        assert!(loads.iter().all(|&l| (90..=110).contains(&l)), "{loads:?}");
    }

    #[test]
    fn a_failed_origin_is_ejected_with_doubling_backoff_and_tried_last() {
        let now = Instant::now();
        let mut b = Balancer::new([t(1), t(2)]);
        let mut rng = StdRng::seed_from_u64(3);
        b.failed(t(1).addr, now);
        for _ in 0..10 {
            assert_eq!(
                b.plan(now, &mut rng),
                vec![t(2), t(1)],
                "ejected origins come last"
            );
        }
        assert_eq!(b.plan(now + BASE_EJECTION, &mut rng).len(), 2);
        b.failed(t(1).addr, now);
        assert_eq!(b.origins[0].ejected_until, Some(now + 2 * BASE_EJECTION));
        for _ in 0..20 {
            b.failed(t(1).addr, now);
        }
        assert_eq!(b.origins[0].ejected_until, Some(now + MAX_EJECTION));
        b.connected(t(1).addr);
        assert_eq!(b.origins[0].ejected_until, None);
        // With every origin ejected, all are still tried, soonest back first.
        b.failed(t(2).addr, now);
        b.failed(t(1).addr, now + Duration::from_millis(10));
        assert_eq!(b.plan(now, &mut rng), vec![t(2), t(1)]);
    }

    #[test]
    fn srv_priority_first_then_weight() {
        let srv = |port, priority, weight| Target {
            priority,
            weight,
            ..t(port)
        };
        let b = Balancer::new([srv(1, 20, 0), srv(2, 10, 90), srv(3, 10, 10)]);
        let mut rng = StdRng::seed_from_u64(9);
        let mut first_is_2 = 0;
        for _ in 0..1000 {
            let plan = b.plan(Instant::now(), &mut rng);
            assert_eq!(plan.len(), 3);
            assert_eq!(plan[2], srv(1, 20, 0), "lower priority comes last");
            if plan[0].addr.port() == 2 {
                first_is_2 += 1;
            }
        }
        assert!(
            (850..=950).contains(&first_is_2),
            "weight 90 of 100 won {first_is_2}/1000"
        );
    }

    #[test]
    fn replacing_targets_keeps_the_state_of_those_that_stay() {
        let now = Instant::now();
        let mut b = Balancer::new([t(1), t(2)]);
        b.failed(t(2).addr, now);
        b.replace([t(2), t(3)]);
        assert_eq!(
            b.plan(now, &mut StdRng::seed_from_u64(0)).last(),
            Some(&t(2))
        );
    }
}
