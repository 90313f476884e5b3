//! The edge index, kept current app by app through snapshot diffs, places apps exactly as a
//! walk over every other app does: that walk (the placement before the index) is the oracle,
//! over random sequences of apps added, changed and removed on a small pool.

use model::*;
use proptest::prelude::*;
use serde_json::json;
use std::net::IpAddr;
use std::sync::Arc;

const HOSTS: [&str; 4] = ["a.example", "b.example", "c.example", "A.EXAMPLE"];

fn policy() -> Policy {
    Policy {
        ipv4_pool: "127.0.1.0/29".parse().unwrap(),
        ..Policy::default()
    }
}

/// An app drawn from small numbers, so that hostnames, addresses and ports collide often.
#[derive(Debug, Clone)]
struct Draw {
    id: u8,
    host: usize,
    dynamic: bool,
    udp: bool,
    start: u16,
    len: u16,
    ips: Vec<u8>,
}

fn draw() -> impl Strategy<Value = Draw> {
    (
        0u8..6,
        0..HOSTS.len(),
        any::<bool>(),
        any::<bool>(),
        20u16..26,
        0u16..3,
        proptest::collection::vec(0u8..8, 1..3),
    )
        .prop_map(|(id, host, dynamic, udp, start, len, ips)| Draw {
            id,
            host,
            dynamic,
            udp,
            start,
            len,
            ips,
        })
}

fn config(d: &Draw) -> AppConfig {
    let transport = if d.udp { "udp" } else { "tcp" };
    let ports = if d.len == 0 {
        d.start.to_string()
    } else {
        format!("{}-{}", d.start, d.start + d.len)
    };
    let edge_ips = if d.dynamic {
        json!({"type": "dynamic", "connectivity": "all"})
    } else {
        json!({"type": "static", "ips": addresses(d)})
    };
    AppConfig::from_json(json!({
        "protocol": format!("{transport}/{ports}"),
        "dns": {"name": HOSTS[d.host]},
        "edge_ips": edge_ips,
        "origin_direct": [format!("{transport}://127.0.0.1:{}", ports)],
    }))
    .unwrap()
}

/// Addresses from the pool's 6 hosts, one past it, and `::1`.
fn addresses(d: &Draw) -> Vec<IpAddr> {
    let mut out: Vec<IpAddr> = d
        .ips
        .iter()
        .map(|n| match n {
            7 => "::1".parse().unwrap(),
            n => format!("127.0.1.{}", n + 1).parse().unwrap(),
        })
        .collect();
    out.dedup();
    out
}

fn app(d: &Draw) -> App {
    let id = ((b'a' + d.id) as char).to_string().repeat(32);
    App::new(
        id,
        "0".repeat(32),
        chrono::Utc::now(),
        config(d),
        addresses(d),
    )
}

/// The placement as a walk over `others` (`previous` not among them).
fn oracle(
    config: &AppConfig,
    previous: Option<&App>,
    others: &[&App],
    policy: &Policy,
) -> Result<Vec<IpAddr>, u32> {
    let overlaps = |a: PortRange, b: PortRange| a.start <= b.end && b.start <= a.end;
    let (transport, ports) = (config.protocol.transport, config.protocol.ports);
    let conflict = |ip: IpAddr| {
        others.iter().any(|o| {
            o.claims()
                .any(|(oip, ot, op)| oip == ip && ot == transport && overlaps(op, ports))
        })
    };
    let host = &config.dns.name;
    let dynamic_of = |a: &App| {
        matches!(a.config.edge_ips, EdgeIps::Dynamic { .. })
            && a.config.dns.name.eq_ignore_ascii_case(host)
    };
    let family = |pool: ipnet::IpNet| -> Result<IpAddr, u32> {
        let in_family = |ip: &IpAddr| ip.is_ipv4() == pool.addr().is_ipv4();
        let known = others
            .iter()
            .copied()
            .chain(previous)
            .filter(|a| dynamic_of(a))
            .flat_map(|a| a.edge_addresses.iter().copied())
            .filter(in_family)
            .min();
        if let Some(ip) = known {
            return Ok(ip);
        }
        let taken = |ip: IpAddr| {
            others
                .iter()
                .any(|a| !dynamic_of(a) && a.edge_addresses.contains(&ip))
        };
        pool.hosts()
            .find(|ip| !taken(*ip))
            .or_else(|| pool.hosts().find(|ip| !conflict(*ip)))
            .ok_or(codes::EDGE_POOL_EXHAUSTED)
    };
    let addresses = match &config.edge_ips {
        EdgeIps::Static { ips } => ips.clone(),
        EdgeIps::Dynamic { .. } => match (family(policy.ipv4_pool), family(policy.ipv6_pool)) {
            (Err(e), Err(_)) => return Err(e),
            (v4, v6) => v4.into_iter().chain(v6).collect(),
        },
    };
    if addresses.iter().any(|ip| conflict(*ip)) {
        return Err(codes::PROTOCOL);
    }
    Ok(addresses)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn the_index_places_apps_as_a_walk_over_every_app_does(
        steps in proptest::collection::vec((draw(), any::<bool>(), draw(), any::<Option<u8>>()), 1..40),
    ) {
        let policy = policy();
        let mut snapshot = Snapshot::default();
        let mut index = EdgeIndex::default();
        for (change, remove, query, previous) in steps {
            // Change the world: add or replace an app, or remove one.
            let mut next = snapshot.clone();
            let changed = app(&change);
            if remove {
                next.apps.remove(&changed.id);
            } else {
                next.apps.insert(changed.id.clone(), Arc::new(changed));
            }
            index.update(&snapshot, &next);
            snapshot = next;
            prop_assert_eq!(index.len(), snapshot.apps.len());

            // Place one more app, or an update of one (`previous`) already there.
            let previous = previous
                .map(|n| (n % 6) as usize)
                .and_then(|n| snapshot.apps.values().nth(n).cloned());
            let others: Vec<&App> = snapshot
                .apps
                .values()
                .filter(|a| previous.as_ref().is_none_or(|p| p.id != a.id))
                .map(|a| &**a)
                .collect();
            let config = config(&query);
            let want = oracle(&config, previous.as_deref(), &others, &policy);
            let got = assign_edge_addresses(&config, previous.as_deref(), &index, &policy)
                .map_err(|e| e.code);
            prop_assert_eq!(&got, &want, "apps {:?}, previous {:?}", others, previous);
            // A fresh index of the same apps agrees with the one kept current.
            let fresh = EdgeIndex::of(snapshot.apps.values().map(|a| &**a));
            let again = assign_edge_addresses(&config, previous.as_deref(), &fresh, &policy)
                .map_err(|e| e.code);
            prop_assert_eq!(got, again);
        }
    }
}

#[test]
fn an_address_let_go_is_the_first_free_again() {
    let pool: ipnet::IpNet = "127.0.1.0/24".parse().unwrap();
    let mut index = EdgeIndex::default();
    let mut apps = Vec::new();
    for n in 1..=5u8 {
        let d = Draw {
            id: n,
            host: 0,
            dynamic: false,
            udp: false,
            start: 22,
            len: 0,
            ips: vec![n - 1],
        };
        apps.push(app(&d));
        index.add(apps.last().unwrap());
    }
    let at = |s: &str| s.parse::<IpAddr>().unwrap();
    assert_eq!(index.first_free(pool, 100, None), Some(at("127.0.1.6")));
    index.remove(&apps[2].id);
    assert_eq!(index.first_free(pool, 100, None), Some(at("127.0.1.3")));
    // The app an update changes does not hold its own address against itself.
    assert_eq!(
        index.first_free(pool, 100, Some(&apps[0].id)),
        Some(at("127.0.1.1"))
    );
    index.add(&apps[2]);
    assert_eq!(index.first_free(pool, 100, None), Some(at("127.0.1.6")));
    assert_eq!(index.first_free(pool, 5, None), None, "past the scan limit");
}
