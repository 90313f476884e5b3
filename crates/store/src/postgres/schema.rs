//! The PostgreSQL schema: versioned migrations, applied once even when several nodes start at
//! the same moment (an advisory lock), recorded in `spectra_schema`.

use crate::{Result, StoreError};

/// Schema versions, applied in order under an advisory lock; `spectra_schema` records them.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE meta (key TEXT PRIMARY KEY, value BIGINT NOT NULL);
INSERT INTO meta (key, value) VALUES ('revision', 0);
CREATE TABLE zones (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_on TEXT NOT NULL,
    modified_on TEXT NOT NULL,
    revision BIGINT NOT NULL
);
CREATE TABLE apps (
    id TEXT PRIMARY KEY,
    zone_id TEXT NOT NULL REFERENCES zones (id),
    protocol TEXT NOT NULL,
    dns_name TEXT NOT NULL,
    created_on TEXT NOT NULL,
    modified_on TEXT NOT NULL,
    config TEXT NOT NULL,
    revision BIGINT NOT NULL,
    edge_addresses TEXT NOT NULL DEFAULT ''
);
CREATE INDEX apps_zone ON apps (zone_id);
CREATE INDEX apps_revision ON apps (revision);
CREATE INDEX zones_revision ON zones (revision);
CREATE TABLE tombstones (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    revision BIGINT NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE INDEX tombstones_revision ON tombstones (revision);
CREATE TABLE tokens (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    secret_hash BYTEA NOT NULL UNIQUE,
    permissions TEXT NOT NULL,
    zones TEXT,
    revoked BOOLEAN NOT NULL DEFAULT FALSE,
    created_on TEXT NOT NULL
);
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    key_hash BYTEA NOT NULL,
    created_on TEXT NOT NULL
);
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
CREATE TABLE access_rule_changes (zone_id TEXT PRIMARY KEY, revision BIGINT NOT NULL);
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
CREATE TABLE certificate_changes (zone_id TEXT PRIMARY KEY, revision BIGINT NOT NULL);
"#,
    // Analytics: each node's per-minute aggregate of each series.
    r#"
CREATE TABLE analytics_minutes (
    zone_id TEXT NOT NULL,
    minute BIGINT NOT NULL,
    node TEXT NOT NULL,
    app_id TEXT NOT NULL,
    event TEXT NOT NULL,
    colo TEXT NOT NULL,
    ip_version INTEGER NOT NULL,
    count BIGINT NOT NULL,
    bytes_ingress BIGINT NOT NULL,
    bytes_egress BIGINT NOT NULL,
    durations TEXT NOT NULL,
    PRIMARY KEY (zone_id, minute, node, app_id, event, colo, ip_version)
);
CREATE INDEX analytics_minutes_minute ON analytics_minutes (minute);
"#,
];

/// The advisory lock nodes take to migrate one at a time ("SPECTRA" in ASCII).
const MIGRATION_LOCK: i64 = 0x0053_5045_4354_5241;

/// Brings the schema up to date, one node at a time.
pub(super) async fn migrate(client: &mut deadpool_postgres::Object) -> Result<()> {
    let tx = client.transaction().await?;
    // Nodes starting at the same moment migrate one after the other.
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS spectra_schema (version INTEGER NOT NULL)")
        .await?;
    let version: i64 = tx
        .query_one("SELECT COUNT(*) FROM spectra_schema", &[])
        .await?
        .get(0);
    let version = version as usize;
    if version > MIGRATIONS.len() {
        return Err(StoreError::Corrupt(format!(
            "the store has schema version {version}, newer than this Spectra knows ({})",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO spectra_schema (version) VALUES ($1)",
            &[&(i as i32 + 1)],
        )
        .await?;
        tracing::info!(version = i + 1, "store migrated");
    }
    tx.commit().await?;
    Ok(())
}
