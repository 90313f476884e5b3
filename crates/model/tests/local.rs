//! A fleet node's own addresses for apps another node created: from its own pools, shared by
//! a hostname, stable from one snapshot (and one restart) to the next, forgotten with the app.

use model::{App, AppConfig, EdgeIndex, LocalAddresses, LocalChange, Policy, Snapshot};
use serde_json::json;
use std::net::IpAddr;
use std::sync::Arc;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn app(id: char, name: &str, port: u16, edge_ips: serde_json::Value, stored: &[&str]) -> App {
    let dns_type = if edge_ips["type"] == "static" {
        "ADDRESS"
    } else {
        "CNAME"
    };
    let config = AppConfig::from_json(json!({
        "protocol": format!("tcp/{port}"), "dns": {"type": dns_type, "name": name},
        "origin_direct": ["tcp://192.0.2.1:22"], "edge_ips": edge_ips,
    }))
    .unwrap();
    App::new(
        id.to_string().repeat(32),
        "0".repeat(32),
        chrono::Utc::now(),
        config,
        stored.iter().map(|s| ip(s)).collect(),
    )
}

/// `model::localize` with an index of the snapshot's apps as they are.
fn localize(
    s: &mut Snapshot,
    ids: &[String],
    kept: &mut LocalAddresses,
    policy: &Policy,
) -> Vec<LocalChange> {
    let mut index = EdgeIndex::of(s.apps.values().map(|a| &**a));
    model::localize(s, ids, kept, policy, &mut index)
}

fn dynamic() -> serde_json::Value {
    json!({"type": "dynamic", "connectivity": "ipv4"})
}

/// Node B: its pool is 127.0.2.0/24; apps from node A carry 127.0.1.x.
fn node_b() -> Policy {
    Policy {
        ipv4_pool: "127.0.2.0/24".parse().unwrap(),
        ..Policy::default()
    }
}

fn snapshot(apps: &[App]) -> Snapshot {
    Snapshot {
        apps: apps
            .iter()
            .map(|a| (a.id.clone(), Arc::new(a.clone())))
            .collect(),
        ..Snapshot::default()
    }
}

fn addresses(s: &Snapshot, id: char) -> Vec<IpAddr> {
    s.apps[&id.to_string().repeat(32)].edge_addresses.clone()
}

#[test]
fn another_node_s_apps_get_this_node_s_addresses_shared_by_hostname_and_kept() {
    let apps = [
        app('a', "h1.example.com", 22, dynamic(), &["127.0.1.1"]),
        app('b', "h1.example.com", 23, dynamic(), &["127.0.1.1"]),
        app('c', "h2.example.com", 22, dynamic(), &["127.0.1.2"]),
        app(
            'd',
            "s.example.com",
            22,
            json!({"type": "static", "ips": ["127.0.0.9"]}),
            &["127.0.0.9"],
        ),
        app('e', "h3.example.com", 24, dynamic(), &["127.0.2.7"]),
    ];
    let ids: Vec<String> = apps.iter().map(|a| a.id.clone()).collect();
    let mut kept = LocalAddresses::new();
    let mut s = snapshot(&apps);
    let changes = localize(&mut s, &ids, &mut kept, &node_b());
    assert_eq!(addresses(&s, 'a'), [ip("127.0.2.1")]);
    assert_eq!(
        addresses(&s, 'b'),
        [ip("127.0.2.1")],
        "a hostname shares its address"
    );
    assert_ne!(
        addresses(&s, 'c'),
        [ip("127.0.2.1")],
        "another hostname gets another"
    );
    assert_eq!(
        addresses(&s, 'd'),
        [ip("127.0.0.9")],
        "static addresses are everyone's"
    );
    assert_eq!(
        addresses(&s, 'e'),
        [ip("127.0.2.7")],
        "this node's own assignment stays"
    );
    assert_eq!(changes.len(), 3, "{changes:?}");
    assert_eq!(kept.len(), 3);

    // The next snapshot (or a restart with the stored assignments) changes nothing.
    let mut again = snapshot(&apps);
    let mut reloaded = kept.clone();
    assert!(localize(&mut again, &ids, &mut reloaded, &node_b()).is_empty());
    assert_eq!(again, s);

    // With 'a' gone, 'b' keeps the hostname's address; the gone app's entry is forgotten.
    let mut without_a = snapshot(&apps[1..]);
    let changes = localize(&mut without_a, &ids, &mut reloaded, &node_b());
    assert_eq!(changes, [("a".repeat(32), None)]);
    assert_eq!(addresses(&without_a, 'b'), [ip("127.0.2.1")]);
}

#[test]
fn on_the_node_that_assigned_them_apps_are_untouched() {
    let apps = [app('a', "h1.example.com", 22, dynamic(), &["127.0.1.1"])];
    let ids = vec![apps[0].id.clone()];
    let mut s = snapshot(&apps);
    let mut kept = LocalAddresses::new();
    let node_a = Policy {
        ipv4_pool: "127.0.1.0/24".parse().unwrap(),
        ..Policy::default()
    };
    assert!(localize(&mut s, &ids, &mut kept, &node_a).is_empty());
    assert_eq!(s, snapshot(&apps));
}

#[test]
fn a_full_pool_still_places_an_app_where_its_ports_are_free() {
    let apps = [
        app('a', "h1.example.com", 22, dynamic(), &["127.0.1.1"]),
        app('b', "h2.example.com", 22, dynamic(), &["127.0.1.2"]),
        app('c', "h3.example.com", 23, dynamic(), &["127.0.1.3"]),
        app('d', "h4.example.com", 22, dynamic(), &["127.0.1.4"]),
    ];
    let ids: Vec<String> = apps.iter().map(|a| a.id.clone()).collect();
    let tiny = Policy {
        ipv4_pool: "127.0.2.0/30".parse().unwrap(),
        ..Policy::default()
    };
    let mut s = snapshot(&apps);
    let mut kept = LocalAddresses::new();
    localize(&mut s, &ids, &mut kept, &tiny);
    let (a, b) = (addresses(&s, 'a'), addresses(&s, 'b'));
    assert_ne!(a, b, "two hostnames, two addresses while the pool has them");
    assert_eq!(addresses(&s, 'c').len(), 1, "port 23 is free on either");
    assert!(
        addresses(&s, 'd').is_empty(),
        "port 22 is taken on both: no address here"
    );
    assert!(!kept.contains_key(&"d".repeat(32)));
}

#[test]
fn an_index_kept_from_one_change_to_the_next_places_as_a_fresh_one_does() {
    let apps = [
        app('a', "h1.example.com", 22, dynamic(), &["127.0.1.1"]),
        app('b', "h2.example.com", 22, dynamic(), &["127.0.1.2"]),
    ];
    let ids: Vec<String> = apps.iter().map(|a| a.id.clone()).collect();
    let mut kept = LocalAddresses::new();
    let mut before = snapshot(&apps);
    let mut index = EdgeIndex::of(before.apps.values().map(|a| &**a));
    model::localize(&mut before, &ids, &mut kept, &node_b(), &mut index);

    // Next: 'b' gone, one more app of h1's, and one of a new hostname; its place and the
    // index are carried over from the last change.
    let more = [
        app('c', "h1.example.com", 23, dynamic(), &["127.0.1.1"]),
        app('d', "h3.example.com", 22, dynamic(), &["127.0.1.3"]),
    ];
    let mut next = before.clone();
    next.apps.remove(&apps[1].id);
    for a in &more {
        next.apps.insert(a.id.clone(), Arc::new(a.clone()));
    }
    let changed = vec![apps[1].id.clone(), more[0].id.clone(), more[1].id.clone()];
    let mut fresh = next.clone();
    let mut fresh_kept = kept.clone();
    index.update(&before, &next);
    model::localize(&mut next, &changed, &mut kept, &node_b(), &mut index);
    localize(&mut fresh, &changed, &mut fresh_kept, &node_b());
    assert_eq!(next, fresh);
    assert_eq!(kept, fresh_kept);
    assert_eq!(addresses(&next, 'c'), addresses(&next, 'a'), "h1's address");
    assert_eq!(
        addresses(&next, 'd'),
        [ip("127.0.2.2")],
        "the address 'b' let go"
    );
}
