//! Both stores, the same tests: revisions, changes since a revision, cascades, secrets, and
//! reopening. PostgreSQL's run against the cluster `scripts/test` starts
//! (`SPECTRA_TEST_POSTGRES`), each test in a database of its own.

mod common;

use common::{config, rule_fields, Backend};
use model::{diff, AppChange, AppListQuery, AppOrder, Direction, Permission};
use store::StoreError;

both!(every_write_bumps_the_revision_and_changes_since_replays_it);
fn every_write_bumps_the_revision_and_changes_since_replays_it(backend: &Backend) {
    let store = backend.open();
    assert_eq!(store.revision().unwrap(), 0);
    let zone = store.create_zone("example.com").unwrap();
    let a = store
        .create_app(&zone.id, &config("a.example.com", 22), &[])
        .unwrap();
    let b = store
        .create_app(&zone.id, &config("b.example.com", 23), &[])
        .unwrap();
    assert_eq!(store.revision().unwrap(), 3);

    let before = store.snapshot().unwrap();
    assert_eq!(before.apps.len(), 2);
    let updated = store
        .update_app(&zone.id, &a.id, &config("a.example.com", 2222), &[])
        .unwrap();
    assert_eq!(updated.created_on, a.created_on);
    assert!(updated.modified_on >= a.modified_on);
    assert!(store.delete_app(&zone.id, &b.id).unwrap());
    assert!(!store.delete_app(&zone.id, &b.id).unwrap());

    let changes = store.changes_since(before.revision).unwrap();
    assert_eq!(changes.revision, 5);
    assert_eq!(changes.apps.len(), 1);
    assert_eq!(changes.apps[0].id, a.id);
    assert_eq!(changes.removed_apps, std::slice::from_ref(&b.id));
    let after = before.apply(changes);
    assert_eq!(after, store.snapshot().unwrap());

    let mut changed = Vec::new();
    let mut removed = Vec::new();
    for change in diff(&before, &after) {
        match change {
            AppChange::Changed { old, new } => {
                assert_eq!(old.config.protocol.as_str(), "tcp/22");
                assert_eq!(new.config.protocol.as_str(), "tcp/2222");
                changed.push(new.id.clone());
            }
            AppChange::Removed(app) => removed.push(app.id.clone()),
            AppChange::Added(app) => panic!("nothing was added, got {}", app.id),
        }
    }
    assert_eq!((changed, removed), (vec![a.id], vec![b.id]));
    assert!(store.changes_since(after.revision).unwrap().is_empty());
}

both!(deleting_a_zone_deletes_its_apps);
fn deleting_a_zone_deletes_its_apps(backend: &Backend) {
    let store = backend.open();
    let zone = store.create_zone("example.com").unwrap();
    let other = store.create_zone("example.org").unwrap();
    let app = store
        .create_app(&zone.id, &config("a.example.com", 22), &[])
        .unwrap();
    let kept = store
        .create_app(&other.id, &config("a.example.org", 22), &[])
        .unwrap();
    let rev = store.revision().unwrap();
    assert!(store.delete_zone(&zone.id).unwrap());
    assert!(store.app(&zone.id, &app.id).unwrap().is_none());
    assert!(store.app(&other.id, &kept.id).unwrap().is_some());
    let changes = store.changes_since(rev).unwrap();
    assert_eq!(changes.removed_apps, [app.id]);
    assert_eq!(changes.removed_zones, std::slice::from_ref(&zone.id));
    assert!(matches!(
        store.create_app(&zone.id, &config("b.example.com", 22), &[]),
        Err(StoreError::NotFound("zone"))
    ));
    assert!(matches!(
        store.create_zone("example.org"),
        Err(StoreError::Conflict(_))
    ));
}

both!(lists_sort_with_id_as_tie_breaker_and_page);
fn lists_sort_with_id_as_tie_breaker_and_page(backend: &Backend) {
    let store = backend.open();
    let zone = store.create_zone("example.com").unwrap();
    for i in 0..7 {
        store
            .create_app(&zone.id, &config("same.example.com", 1000 + i), &[])
            .unwrap();
    }
    let mut seen = Vec::new();
    for page in 1..=4 {
        let q = AppListQuery {
            order: AppOrder::Dns,
            direction: Direction::Desc,
            page,
            per_page: 2,
        };
        let p = store.list_apps(&zone.id, &q).unwrap();
        assert_eq!(p.total_count, 7);
        seen.extend(p.apps.into_iter().map(|a| a.id));
    }
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.reverse();
    assert_eq!(seen.len(), 7);
    assert_eq!(seen, sorted, "ties are broken by id, in the same direction");
    let q = AppListQuery {
        order: AppOrder::Protocol,
        direction: Direction::Asc,
        page: 1,
        per_page: 3,
    };
    let protocols: Vec<String> = store
        .list_apps(&zone.id, &q)
        .unwrap()
        .apps
        .iter()
        .map(|a| a.config.protocol.as_str().to_owned())
        .collect();
    assert_eq!(protocols, ["tcp/1000", "tcp/1001", "tcp/1002"]);
}

both!(secrets_are_stored_only_as_hashes);
fn secrets_are_stored_only_as_hashes(backend: &Backend) {
    let store = backend.open();
    let (token, secret) = store
        .create_token(
            "ci",
            &[Permission::ZoneSettingsRead],
            Some(&["a".repeat(32)]),
        )
        .unwrap();
    assert_eq!(secret.len(), 40);
    let (user, key) = store.create_user("ops@example.com").unwrap();
    assert_eq!(key.len(), 37);
    {
        let bytes = backend.raw_contents();
        assert!(
            !bytes.windows(40).any(|w| w == secret.as_bytes()),
            "token secret stored in clear"
        );
        assert!(
            !bytes.windows(37).any(|w| w == key.as_bytes()),
            "global key stored in clear"
        );
    }
    assert_eq!(
        store.token_by_secret(&secret).unwrap().unwrap().id,
        token.id
    );
    assert!(store.token_by_secret("x").unwrap().is_none());
    let found = store.user_by_key("ops@example.com", &key).unwrap().unwrap();
    assert_eq!(found.id, user.id);
    assert!(store
        .user_by_key("ops@example.com", "wrong")
        .unwrap()
        .is_none());
    assert!(store
        .user_by_key("nobody@example.com", &key)
        .unwrap()
        .is_none());
    assert!(matches!(
        store.create_user("ops@example.com"),
        Err(StoreError::Conflict(_))
    ));
    assert!(store.revoke_token(&token.id).unwrap());
    assert!(store.token_by_secret(&secret).unwrap().unwrap().revoked);
    assert!(!store.revoke_token(&token.id).unwrap());
}

both!(reopening_keeps_everything_and_migrations_run_once);
fn reopening_keeps_everything_and_migrations_run_once(backend: &Backend) {
    let (zone, app) = {
        let store = backend.open();
        let zone = store.create_zone("example.com").unwrap();
        let edge = ["127.0.1.1".parse().unwrap(), "::1".parse().unwrap()];
        let app = store
            .create_app(&zone.id, &config("a.example.com", 22), &edge)
            .unwrap();
        (zone, app)
    };
    let store = backend.open();
    assert_eq!(app.edge_addresses.len(), 2);
    assert_eq!(store.app(&zone.id, &app.id).unwrap(), Some(app));
    assert_eq!(store.revision().unwrap(), 2);
}

both!(access_rules_are_kept_per_zone_and_reach_the_data_plane_as_whole_lists);
fn access_rules_are_kept_per_zone_and_reach_the_data_plane_as_whole_lists(backend: &Backend) {
    let store = backend.open();
    let zone = store.create_zone("example.com").unwrap();
    let other = store.create_zone("example.org").unwrap();
    let start = store.revision().unwrap();
    let block = store
        .create_access_rule(&zone.id, &rule_fields("block", "ip", "192.0.2.1"))
        .unwrap();
    let allow = store
        .create_access_rule(
            &zone.id,
            &rule_fields("whitelist", "ip_range", "192.0.2.0/24"),
        )
        .unwrap();
    store
        .create_access_rule(&other.id, &rule_fields("block", "ip", "192.0.2.1"))
        .unwrap();
    // One rule per target and value in a zone.
    assert!(matches!(
        store.create_access_rule(&zone.id, &rule_fields("whitelist", "ip", "192.0.2.1")),
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store.update_access_rule(&allow.zone_id, &allow.id, &block.fields),
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store.create_access_rule(&"f".repeat(32), &block.fields),
        Err(StoreError::NotFound("zone"))
    ));
    assert_eq!(
        store.access_rules(&zone.id).unwrap(),
        [block.clone(), allow.clone()]
    );

    let changes = store.changes_since(start).unwrap();
    assert_eq!(changes.access_rules.len(), 2);
    assert_eq!(
        changes.access_rules[0].1.len() + changes.access_rules[1].1.len(),
        3
    );
    let snapshot = store.snapshot().unwrap();
    assert_eq!(snapshot.access_rules[&zone.id].len(), 2);

    let edited = store
        .update_access_rule(
            &zone.id,
            &block.id,
            &rule_fields("whitelist", "ip", "192.0.2.1"),
        )
        .unwrap()
        .unwrap();
    assert_eq!(edited.created_on, block.created_on);
    assert_eq!(
        store.access_rule(&zone.id, &block.id).unwrap(),
        Some(edited)
    );
    assert!(store.access_rule(&other.id, &block.id).unwrap().is_none());
    let before_delete = store.revision().unwrap();
    assert!(store.delete_access_rule(&zone.id, &block.id).unwrap());
    assert!(!store.delete_access_rule(&zone.id, &block.id).unwrap());
    let changes = store.changes_since(before_delete).unwrap();
    assert_eq!(
        changes.access_rules,
        [(zone.id.clone(), vec![allow.clone()])]
    );
    let with_one = store.snapshot().unwrap();
    assert!(store.delete_access_rule(&zone.id, &allow.id).unwrap());
    let emptied = with_one.apply(store.changes_since(with_one.revision).unwrap());
    assert!(!emptied.access_rules.contains_key(&zone.id));
    assert_eq!(emptied.access_rules.len(), 1, "the other zone's rules stay");

    // A zone's rules go with it.
    assert!(store.delete_zone(&other.id).unwrap());
    assert!(store.snapshot().unwrap().access_rules.is_empty());
    drop(store);
    let reopened = backend.open();
    assert!(reopened.access_rules(&other.id).unwrap().is_empty());
}

both!(several_writers_at_once_lose_and_duplicate_nothing);
fn several_writers_at_once_lose_and_duplicate_nothing(backend: &Backend) {
    // One store per writer, as several nodes (or the CLI beside a node) would have.
    let zone = backend.open().create_zone("example.com").unwrap();
    let writers: Vec<_> = (0..8u16)
        .map(|w| {
            let store = backend.open();
            let zone = zone.id.clone();
            std::thread::spawn(move || {
                (0..10u16)
                    .map(|i| {
                        let port = 1000 + w * 100 + i;
                        let name = format!("w{w}-{i}.example.com");
                        store
                            .create_app(&zone, &config(&name, port), &[])
                            .unwrap()
                            .id
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut ids: Vec<String> = writers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 80);
    let store = backend.open();
    let snapshot = store.snapshot().unwrap();
    assert_eq!(snapshot.apps.len(), 80, "every answered write is stored");
    assert_eq!(
        snapshot.revision, 81,
        "one revision per write, none skipped or shared"
    );
    let replayed = model::Snapshot::default().apply(store.changes_since(0).unwrap());
    assert_eq!(replayed.apps.len(), 80);
}

both!(heartbeats_keep_each_node_s_last_word_and_take_no_revision);
fn heartbeats_keep_each_node_s_last_word_and_take_no_revision(backend: &Backend) {
    let store = backend.open();
    let node = |name: &str, colo: &str| model::Node {
        name: name.into(),
        colo: colo.into(),
        version: "0.1.0".into(),
        edge_pools: vec!["127.0.1.0/24".parse().unwrap()],
        started_on: chrono::Utc::now(),
        last_seen: chrono::Utc::now(),
        listeners: Default::default(),
    };
    store.heartbeat(&node("n2", "AMS")).unwrap();
    store.heartbeat(&node("n1", "AMS")).unwrap();
    let latest = node("n1", "FRA");
    store.heartbeat(&latest).unwrap();
    let nodes = store.nodes().unwrap();
    assert_eq!(nodes.len(), 2);
    assert_eq!(nodes[0], latest, "the last heartbeat wins; names in order");
    assert_eq!(nodes[1].name, "n2");
    assert_eq!(
        store.revision().unwrap(),
        0,
        "heartbeats are not configuration"
    );
}

both!(each_node_keeps_its_own_addresses);
fn each_node_keeps_its_own_addresses(backend: &Backend) {
    let store = backend.open();
    let (a, b) = ("a".repeat(32), "b".repeat(32));
    let ips = |s: &str| vec![s.parse::<std::net::IpAddr>().unwrap()];
    store
        .save_node_addresses(
            "n1",
            &[
                (a.clone(), Some(ips("127.0.2.1"))),
                (b.clone(), Some(ips("127.0.2.2"))),
            ],
        )
        .unwrap();
    store
        .save_node_addresses("n2", &[(a.clone(), Some(ips("127.0.3.1")))])
        .unwrap();
    store
        .save_node_addresses("n1", &[(a.clone(), Some(ips("::1"))), (b.clone(), None)])
        .unwrap();
    let n1 = store.node_addresses("n1").unwrap();
    assert_eq!(n1.len(), 1);
    assert_eq!(n1[&a], ips("::1"));
    assert_eq!(store.node_addresses("n2").unwrap()[&a], ips("127.0.3.1"));
    assert!(store.node_addresses("n3").unwrap().is_empty());
    assert_eq!(store.revision().unwrap(), 0, "not configuration");
}

both!(a_list_served_from_memory_matches_the_store);
fn a_list_served_from_memory_matches_the_store(backend: &Backend) {
    let store = backend.open();
    let zone = store.create_zone("example.com").unwrap();
    let other = store.create_zone("example.org").unwrap();
    for (i, name) in ["b", "a", "C", "a", "z-1", "z_1", "m"].iter().enumerate() {
        let port = [22u16, 3306, 22, 80, 443, 8080, 5432][i];
        store
            .create_app(&zone.id, &config(&format!("{name}.example.com"), port), &[])
            .unwrap();
    }
    store
        .create_app(&other.id, &config("o.example.org", 22), &[])
        .unwrap();
    let snapshot = store.snapshot().unwrap();
    let in_zone: Vec<&model::App> = snapshot
        .apps
        .values()
        .filter(|a| a.zone_id == zone.id)
        .map(|a| &**a)
        .collect();
    for order in AppOrder::ALL {
        for direction in [Direction::Asc, Direction::Desc] {
            for page in 1..=3 {
                let query = AppListQuery {
                    order: *order,
                    direction,
                    page,
                    per_page: 3,
                };
                let stored = store.list_apps(&zone.id, &query).unwrap();
                let (apps, total) = query.page_of(in_zone.iter().copied());
                assert_eq!(total, stored.total_count);
                assert_eq!(apps, stored.apps, "{order} {direction} page {page}");
            }
        }
    }
}

both!(credentials_answer_as_the_store_does);
fn credentials_answer_as_the_store_does(backend: &Backend) {
    let store = backend.open();
    let (_, secret) = store
        .create_token(
            "t",
            &[Permission::ZoneSettingsRead],
            Some(&["a".repeat(32)]),
        )
        .unwrap();
    let (revoked, old) = store
        .create_token("r", &[Permission::ZoneWrite], None)
        .unwrap();
    store.revoke_token(&revoked.id).unwrap();
    let (_, key) = store.create_user("ops@example.com").unwrap();
    let copy = store.credentials().unwrap();
    for s in [secret.as_str(), old.as_str(), "not-a-secret"] {
        assert_eq!(
            copy.token(s).unwrap(),
            store.token_by_secret(s).unwrap(),
            "{s}"
        );
    }
    assert!(copy.token(&old).unwrap().unwrap().revoked);
    assert_eq!(
        copy.user("ops@example.com", &key).unwrap(),
        store.user_by_key("ops@example.com", &key).unwrap()
    );
    assert!(copy.user("ops@example.com", "wrong").unwrap().is_none());
    assert!(copy.user("nobody@example.com", &key).unwrap().is_none());
}
