//! What DNS publishes: every app hostname's addresses whose listeners are up, here and on the
//! live nodes of the fleet; down listeners, deleted apps and silent nodes left out.

use chrono::{Duration, Utc};
use model::{
    publish, App, AppConfig, ListenerStatus, Node, NodeListener, Snapshot, Transport, Zone,
};
use serde_json::json;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn app(id: char, zone: char, name: &str, port: u16) -> App {
    let config = AppConfig::from_json(json!({
        "protocol": format!("tcp/{port}"), "dns": {"type": "CNAME", "name": name},
        "origin_direct": ["tcp://192.0.2.1:22"], "edge_ips": {"type": "dynamic", "connectivity": "all"},
    }))
    .unwrap();
    App::new(
        id.to_string().repeat(32),
        zone.to_string().repeat(32),
        Utc::now(),
        config,
        vec![],
    )
}

fn snapshot(apps: Vec<App>) -> Snapshot {
    let mut s = Snapshot {
        revision: 7,
        ..Snapshot::default()
    };
    for (id, name) in [('z', "example.com"), ('y', "Example.ORG")] {
        let zone = Zone {
            id: id.to_string().repeat(32),
            name: name.into(),
            created_on: Utc::now(),
            modified_on: Utc::now(),
        };
        s.zones.insert(zone.id.clone(), zone);
    }
    for a in apps {
        s.apps.insert(a.id.clone(), Arc::new(a));
    }
    s
}

fn listener(addr: &str, error: Option<&str>) -> ListenerStatus {
    ListenerStatus {
        address: addr.parse().unwrap(),
        transport: Transport::Tcp,
        error: error.map(str::to_owned),
    }
}

fn peer(name: &str, quiet_secs: i64, listeners: &[(&str, &str)]) -> Node {
    let mut by_app: BTreeMap<String, Vec<NodeListener>> = BTreeMap::new();
    for (app, addr) in listeners {
        by_app
            .entry(app.repeat(32))
            .or_default()
            .push(NodeListener {
                address: addr.parse().unwrap(),
                transport: "tcp".into(),
                error: None,
            });
    }
    Node {
        name: name.into(),
        colo: "LOC".into(),
        version: "0".into(),
        edge_pools: vec![],
        started_on: Utc::now(),
        last_seen: Utc::now() - Duration::seconds(quiet_secs),
        listeners: by_app,
    }
}

#[test]
fn hostnames_share_the_up_addresses_of_their_apps_and_down_ones_are_left_out() {
    let s = snapshot(vec![
        app('a', 'z', "ssh.example.com", 22),
        app('b', 'z', "SSH.example.com", 80),
        app('c', 'z', "db.example.com", 5432),
        app('d', 'y', "game.example.org", 27015),
    ]);
    let mut local = BTreeMap::new();
    local.insert(
        "a".repeat(32),
        vec![listener("127.0.1.1:22", None), listener("[::1]:22", None)],
    );
    // b: bound on 127.0.1.1, failed on 127.0.1.9.
    local.insert(
        "b".repeat(32),
        vec![
            listener("127.0.1.1:80", None),
            listener("127.0.1.9:80", Some("in use")),
        ],
    );
    // c: a range with one port failing on the address: the address is not published.
    local.insert(
        "c".repeat(32),
        vec![
            listener("127.0.1.2:5432", None),
            listener("127.0.1.2:5433", Some("in use")),
        ],
    );
    local.insert("d".repeat(32), vec![listener("127.0.1.3:27015", None)]);
    // An app not in the configuration any more (deleted) is not published.
    local.insert("e".repeat(32), vec![listener("127.0.1.4:1", None)]);
    let p = publish(&s, 30, &local, &[], Utc::now());
    assert_eq!(p.revision, 7);
    let example = &p.zones[&"z".repeat(32)];
    assert_eq!(example.name, "example.com");
    assert_eq!(
        example.hosts["ssh.example.com"],
        [ip("127.0.1.1"), ip("::1")]
    );
    assert_eq!(example.hosts["db.example.com"], Vec::<IpAddr>::new());
    assert_eq!(p.zones[&"y".repeat(32)].name, "example.org");
    assert_eq!(
        p.zones[&"y".repeat(32)].hosts["game.example.org"],
        [ip("127.0.1.3")]
    );
    assert_eq!(p.apps[&"b".repeat(32)], [ip("127.0.1.1")]);
    assert!(!p.apps.contains_key(&"e".repeat(32)));
}

#[test]
fn live_peers_add_their_addresses_and_silent_ones_leave_before_they_go_stale() {
    let s = snapshot(vec![app('a', 'z', "ssh.example.com", 22)]);
    let mut local = BTreeMap::new();
    local.insert("a".repeat(32), vec![listener("127.0.1.1:22", None)]);
    let peers = [
        peer("n2", 2, &[("a", "127.0.2.1:22")]),
        peer("n3", 11, &[("a", "127.0.3.1:22")]),
        peer("n4", 13, &[("a", "127.0.4.1:22")]),
    ];
    let p = publish(&s, 30, &local, &peers, Utc::now());
    assert_eq!(
        p.zones[&"z".repeat(32)].hosts["ssh.example.com"],
        [ip("127.0.1.1"), ip("127.0.2.1"), ip("127.0.3.1")]
    );
    // A node down here but up elsewhere is still published by the others.
    local.insert(
        "a".repeat(32),
        vec![listener("127.0.1.1:22", Some("in use"))],
    );
    let p = publish(&s, 30, &local, &peers, Utc::now());
    assert_eq!(p.apps[&"a".repeat(32)], [ip("127.0.2.1"), ip("127.0.3.1")]);
}
