//! The fleet's store: nodes starting at once migrate once, every node hears another's writes,
//! and `store copy` moves a store into another (both backends as the target).

mod common;

use common::{config, rule_fields, Backend};
use model::Permission;
use store::StoreError;

#[test]
fn postgres_nodes_starting_at_once_migrate_once() {
    let Some(backend) = Backend::postgres() else {
        return;
    };
    let starts: Vec<_> = (0..6)
        .map(|_| {
            let url = match &backend {
                Backend::Postgres(url) => url.clone(),
                Backend::Sqlite(_) => unreachable!(),
            };
            std::thread::spawn(move || store::PgStore::connect(&url).map(|_| ()))
        })
        .collect();
    for start in starts {
        start.join().unwrap().expect("every node starts");
    }
    let store = backend.open();
    store.create_zone("example.com").unwrap();
    assert_eq!(store.revision().unwrap(), 1);
}

#[test]
fn postgres_wakes_every_node_on_another_node_s_write() {
    let Some(backend) = Backend::postgres() else {
        return;
    };
    let (writer, follower) = (backend.open(), backend.open());
    assert!(
        Backend::sqlite().open().changes().is_none(),
        "SQLite is polled"
    );
    let feed = follower.changes().expect("PostgreSQL has a change feed");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let wait = |within_ms: u64| {
        runtime.block_on(async {
            let within = std::time::Duration::from_millis(within_ms);
            tokio::time::timeout(within, feed.notified()).await
        })
    };
    // The wake-up of the feed's connection, then quiet.
    assert!(wait(5000).is_ok(), "the feed connects and wakes once");
    assert!(wait(300).is_err(), "nothing written, nothing announced");
    writer.create_zone("example.com").unwrap();
    assert!(wait(2000).is_ok(), "another node's write wakes this one");
    assert_eq!(follower.revision().unwrap(), 1);
}

both!(a_copy_answers_every_token_and_key_and_a_second_copy_adds_nothing);
fn a_copy_answers_every_token_and_key_and_a_second_copy_adds_nothing(backend: &Backend) {
    let source = Backend::sqlite().open();
    let zone = source.create_zone("example.com").unwrap();
    let edge = ["127.0.1.1".parse().unwrap()];
    source
        .create_app(&zone.id, &config("a.example.com", 22), &edge)
        .unwrap();
    source
        .create_access_rule(&zone.id, &rule_fields("block", "ip", "192.0.2.1"))
        .unwrap();
    let (token, secret) = source
        .create_token("t", &[Permission::ZoneSettingsWrite], None)
        .unwrap();
    let (_, key) = source.create_user("ops@example.com").unwrap();
    let dump = source.export().unwrap();

    let target = backend.open();
    let added = target.import(&dump).unwrap();
    assert_eq!(
        (
            added.zones,
            added.apps,
            added.tokens,
            added.users,
            added.access_rules
        ),
        (1, 1, 1, 1, 1)
    );
    let (copied, original) = (target.snapshot().unwrap(), source.snapshot().unwrap());
    assert_eq!(copied.apps, original.apps);
    assert_eq!(copied.zones, original.zones);
    assert_eq!(copied.access_rules, original.access_rules);
    assert_eq!(
        target.token_by_secret(&secret).unwrap().unwrap().id,
        token.id
    );
    assert!(target
        .user_by_key("ops@example.com", &key)
        .unwrap()
        .is_some());
    assert_eq!(
        target.export().unwrap(),
        dump,
        "the copy holds the same rows"
    );

    let revision = target.revision().unwrap();
    assert_eq!(
        target.import(&dump).unwrap().total(),
        0,
        "a second copy adds nothing"
    );
    assert_eq!(
        target.revision().unwrap(),
        revision,
        "and takes no revision"
    );

    // A zone of the same name under another id: refused, and nothing is written.
    let other = Backend::sqlite().open();
    other.create_zone("example.com").unwrap();
    other.create_zone("example.org").unwrap();
    assert!(matches!(
        target.import(&other.export().unwrap()),
        Err(StoreError::Conflict(_))
    ));
    assert!(target.zone_by_name("example.org").unwrap().is_none());
}
