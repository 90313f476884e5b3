//! The SQLite schema: versioned migrations, applied in order at open and recorded in
//! `user_version`.

use crate::{Result, StoreError};
use rusqlite::{Connection, TransactionBehavior};

/// Schema versions, applied in order; `PRAGMA user_version` records how many have run.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT INTO meta (key, value) VALUES ('revision', 0);
CREATE TABLE zones (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_on TEXT NOT NULL,
    modified_on TEXT NOT NULL,
    revision INTEGER NOT NULL
);
CREATE TABLE apps (
    id TEXT PRIMARY KEY,
    zone_id TEXT NOT NULL REFERENCES zones (id),
    protocol TEXT NOT NULL,
    dns_name TEXT NOT NULL,
    created_on TEXT NOT NULL,
    modified_on TEXT NOT NULL,
    config TEXT NOT NULL,
    revision INTEGER NOT NULL
);
CREATE INDEX apps_zone ON apps (zone_id);
CREATE INDEX apps_revision ON apps (revision);
CREATE INDEX zones_revision ON zones (revision);
CREATE TABLE tombstones (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    revision INTEGER NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE INDEX tombstones_revision ON tombstones (revision);
CREATE TABLE tokens (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    secret_hash BLOB NOT NULL UNIQUE,
    permissions TEXT NOT NULL,
    zones TEXT,
    revoked INTEGER NOT NULL DEFAULT 0,
    created_on TEXT NOT NULL
);
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    key_hash BLOB NOT NULL,
    created_on TEXT NOT NULL
);
"#,
    // Where each app listens, assigned when it is written: comma-separated IP addresses.
    "ALTER TABLE apps ADD COLUMN edge_addresses TEXT NOT NULL DEFAULT '';",
    // Zone IP Access Rules, and the revision at which each zone's rules last changed.
    r#"
CREATE TABLE access_rules (
    id TEXT PRIMARY KEY,
    zone_id TEXT NOT NULL REFERENCES zones (id),
    mode TEXT NOT NULL,
    target TEXT NOT NULL,
    value TEXT NOT NULL,
    notes TEXT NOT NULL,
    created_on TEXT NOT NULL,
    modified_on TEXT NOT NULL
);
CREATE INDEX access_rules_zone ON access_rules (zone_id, target, value);
CREATE TABLE access_rule_changes (zone_id TEXT PRIMARY KEY, revision INTEGER NOT NULL);
"#,
    // Each node's last heartbeat, as JSON.
    "CREATE TABLE nodes (name TEXT PRIMARY KEY, data TEXT NOT NULL);",
    // Each node's own addresses for apps another node created.
    "CREATE TABLE node_addresses (node TEXT NOT NULL, app_id TEXT NOT NULL, addresses TEXT NOT NULL, PRIMARY KEY (node, app_id));",
    // Custom certificates (the document holds the private key), and each zone's last change.
    r#"
CREATE TABLE custom_certificates (
    id TEXT PRIMARY KEY,
    zone_id TEXT NOT NULL REFERENCES zones (id),
    uploaded_on TEXT NOT NULL,
    modified_on TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX custom_certificates_zone ON custom_certificates (zone_id);
CREATE TABLE certificate_changes (zone_id TEXT PRIMARY KEY, revision INTEGER NOT NULL);
"#,
    // Analytics: each node's per-minute aggregate of each series.
    r#"
CREATE TABLE analytics_minutes (
    zone_id TEXT NOT NULL,
    minute INTEGER NOT NULL,
    node TEXT NOT NULL,
    app_id TEXT NOT NULL,
    event TEXT NOT NULL,
    colo TEXT NOT NULL,
    ip_version INTEGER NOT NULL,
    count INTEGER NOT NULL,
    bytes_ingress INTEGER NOT NULL,
    bytes_egress INTEGER NOT NULL,
    durations TEXT NOT NULL,
    PRIMARY KEY (zone_id, minute, node, app_id, event, colo, ip_version)
);
CREATE INDEX analytics_minutes_minute ON analytics_minutes (minute);
"#,
];

pub(super) fn migrate(conn: &mut Connection) -> Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Exclusive)?;
    let version: usize = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version > MIGRATIONS.len() {
        return Err(StoreError::Corrupt(format!(
            "the store has schema version {version}, newer than this Spectra knows ({})",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i + 1)?;
        tracing::info!(version = i + 1, "store migrated");
    }
    tx.commit()?;
    Ok(())
}
