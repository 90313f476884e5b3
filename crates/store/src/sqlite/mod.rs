//! The embedded SQLite store: one file in the data dir, WAL, `synchronous=FULL`, versioned migrations.

mod access;
mod analytics;
mod certificates;
mod config;
mod dump;
mod rules;
mod schema;

use crate::{secret, Result, Store};
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior};
use std::net::IpAddr;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// The file the store keeps in the data dir.
pub const DB_FILE: &str = "spectra.db";

/// The SQLite store. One connection per process, serialized by a mutex; other processes (the
/// CLI while `serve` runs) wait on SQLite's lock for up to `busy_timeout`.
pub struct SqliteStore {
    conn: Mutex<Connection>,
}

impl SqliteStore {
    /// Opens (creating if needed) the store in `data_dir`, and brings its schema up to date.
    /// A data dir it creates is 0700; the database is 0600, and SQLite gives its WAL and
    /// shared-memory files the database's mode.
    pub fn open(data_dir: &Path) -> Result<SqliteStore> {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
        if !data_dir.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(data_dir)?;
        }
        let path = data_dir.join(DB_FILE);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&path)?;
        // A database made before this rule, or by another tool: readable by its owner only.
        // Only the owner may change it; anyone else leaves it as it is.
        if file.metadata()?.permissions().mode() & 0o077 != 0 {
            let _ = file.set_permissions(std::fs::Permissions::from_mode(0o600));
        }
        drop(file);
        let mut conn = Connection::open(&path)?;
        conn.busy_timeout(Duration::from_secs(10))?;
        // WAL with synchronous=FULL: a commit is on disk before the API answers, so an
        // answered write survives kill -9 and power loss alike.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", true)?;
        schema::migrate(&mut conn)?;
        Ok(SqliteStore {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave a half-done transaction behind (it
        // rolls back on drop), so a poisoned lock is still safe to use.
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` in an immediate (write-locking) transaction and commits it.
    fn write<T>(&self, f: impl FnOnce(&Transaction) -> Result<T>) -> Result<T> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }

    /// Runs `f` in a read transaction, so it sees one consistent revision.
    fn read<T>(&self, f: impl FnOnce(&Transaction) -> Result<T>) -> Result<T> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
        f(&tx)
    }
}

/// The zones whose per-zone list (access rules, certificates) changed after `since`, from
/// that list's `*_changes` table.
fn zones_changed_since(tx: &Transaction, changes: &str, since: u64) -> Result<Vec<String>> {
    Ok(tx
        .prepare(&format!(
            "SELECT zone_id FROM {changes} WHERE revision > ?1 ORDER BY zone_id"
        ))?
        .query_map([since], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?)
}

/// Records at a new revision that the zone's list in `changes` changed.
fn zone_changed(tx: &Transaction, changes: &str, zone_id: &str) -> Result<()> {
    let revision = bump_revision(tx)?;
    tx.execute(
        &format!("INSERT OR REPLACE INTO {changes} (zone_id, revision) VALUES (?1, ?2)"),
        rusqlite::params![zone_id, revision],
    )?;
    Ok(())
}

/// Takes the next revision inside a write transaction.
fn bump_revision(tx: &Transaction) -> Result<u64> {
    Ok(tx.query_row(
        "UPDATE meta SET value = value + 1 WHERE key = 'revision' RETURNING value",
        [],
        |r| r.get(0),
    )?)
}

fn current_revision(tx: &Transaction) -> Result<u64> {
    Ok(
        tx.query_row("SELECT value FROM meta WHERE key = 'revision'", [], |r| {
            r.get(0)
        })?,
    )
}

impl Store for SqliteStore {
    fn revision(&self) -> Result<u64> {
        self.read(current_revision)
    }

    fn snapshot(&self) -> Result<model::Snapshot> {
        self.read(config::snapshot)
    }

    fn changes_since(&self, revision: u64) -> Result<model::Changes> {
        self.read(|tx| config::changes_since(tx, revision))
    }

    fn create_zone(&self, name: &str) -> Result<model::Zone> {
        self.write(|tx| config::create_zone(tx, name))
    }

    fn zone(&self, id: &str) -> Result<Option<model::Zone>> {
        self.read(|tx| config::zone_where(tx, "id", id))
    }

    fn zone_by_name(&self, name: &str) -> Result<Option<model::Zone>> {
        self.read(|tx| config::zone_where(tx, "name", &name.to_ascii_lowercase()))
    }

    fn list_zones(&self) -> Result<Vec<model::Zone>> {
        self.read(config::list_zones)
    }

    fn delete_zone(&self, id: &str) -> Result<bool> {
        self.write(|tx| config::delete_zone(tx, id))
    }

    fn app(&self, zone_id: &str, app_id: &str) -> Result<Option<model::App>> {
        self.read(|tx| config::app(tx, zone_id, app_id))
    }

    fn list_apps(&self, zone_id: &str, query: &model::AppListQuery) -> Result<crate::AppPage> {
        self.read(|tx| config::list_apps(tx, zone_id, query))
    }

    fn create_app(
        &self,
        zone_id: &str,
        config: &model::AppConfig,
        edge_addresses: &[IpAddr],
    ) -> Result<model::App> {
        self.write(|tx| config::create_app(tx, zone_id, config, edge_addresses))
    }

    fn update_app(
        &self,
        zone_id: &str,
        app_id: &str,
        config: &model::AppConfig,
        edge_addresses: &[IpAddr],
    ) -> Result<model::App> {
        self.write(|tx| config::update_app(tx, zone_id, app_id, config, edge_addresses))
    }

    fn delete_app(&self, zone_id: &str, app_id: &str) -> Result<bool> {
        self.write(|tx| config::delete_app(tx, zone_id, app_id))
    }

    fn create_token(
        &self,
        name: &str,
        permissions: &[model::Permission],
        zones: Option<&[String]>,
    ) -> Result<(model::Token, String)> {
        self.write(|tx| access::create_token(tx, name, permissions, zones))
    }

    fn list_tokens(&self) -> Result<Vec<model::Token>> {
        self.read(access::list_tokens)
    }

    fn revoke_token(&self, id: &str) -> Result<bool> {
        self.write(|tx| access::revoke_token(tx, id))
    }

    fn token_by_secret(&self, secret: &str) -> Result<Option<model::Token>> {
        self.read(|tx| access::token_by_secret(tx, secret))
    }

    fn access_rules(&self, zone_id: &str) -> Result<Vec<model::AccessRule>> {
        self.read(|tx| rules::of_zone(tx, zone_id))
    }

    fn access_rule(&self, zone_id: &str, id: &str) -> Result<Option<model::AccessRule>> {
        self.read(|tx| rules::one(tx, zone_id, id))
    }

    fn create_access_rule(
        &self,
        zone_id: &str,
        fields: &model::RuleFields,
    ) -> Result<model::AccessRule> {
        self.write(|tx| rules::create(tx, zone_id, fields))
    }

    fn update_access_rule(
        &self,
        zone_id: &str,
        id: &str,
        fields: &model::RuleFields,
    ) -> Result<Option<model::AccessRule>> {
        self.write(|tx| rules::update(tx, zone_id, id, fields))
    }

    fn delete_access_rule(&self, zone_id: &str, id: &str) -> Result<bool> {
        self.write(|tx| rules::delete(tx, zone_id, id))
    }

    fn certificates(&self, zone_id: &str) -> Result<Vec<model::Certificate>> {
        self.read(|tx| certificates::of_zone(tx, zone_id))
    }

    fn certificate(&self, zone_id: &str, id: &str) -> Result<Option<model::Certificate>> {
        self.read(|tx| certificates::one(tx, zone_id, id))
    }

    fn create_certificate(
        &self,
        zone_id: &str,
        fields: &model::CertificateFields,
    ) -> Result<model::Certificate> {
        self.write(|tx| certificates::create(tx, zone_id, fields))
    }

    fn update_certificate(
        &self,
        zone_id: &str,
        id: &str,
        fields: &model::CertificateFields,
    ) -> Result<Option<model::Certificate>> {
        self.write(|tx| certificates::update(tx, zone_id, id, fields))
    }

    fn delete_certificate(&self, zone_id: &str, id: &str) -> Result<bool> {
        self.write(|tx| certificates::delete(tx, zone_id, id))
    }

    fn create_user(&self, email: &str) -> Result<(model::User, String)> {
        self.write(|tx| access::create_user(tx, email))
    }

    fn user_by_key(&self, email: &str, key: &str) -> Result<Option<model::User>> {
        self.read(|tx| access::user_by_key(tx, email, key))
    }

    fn save_analytics(&self, node: &str, rows: &[model::analytics::MinuteRow]) -> Result<()> {
        self.write(|tx| analytics::save(tx, node, rows))
    }

    fn analytics(
        &self,
        zone_id: &str,
        since: i64,
        until: i64,
    ) -> Result<Vec<(String, model::analytics::MinuteRow)>> {
        self.read(|tx| analytics::load(tx, zone_id, since, until))
    }

    fn prune_analytics(&self, before: i64) -> Result<u64> {
        self.write(|tx| analytics::prune(tx, before))
    }

    fn heartbeat(&self, node: &model::Node) -> Result<()> {
        let json = crate::rows::node_json(node)?;
        self.write(|tx| {
            tx.execute(
                "INSERT OR REPLACE INTO nodes (name, data) VALUES (?1, ?2)",
                [&node.name, &json],
            )?;
            Ok(())
        })
    }

    fn nodes(&self) -> Result<Vec<model::Node>> {
        self.read(|tx| {
            let rows: Vec<(String, String)> = tx
                .prepare("SELECT name, data FROM nodes ORDER BY name")?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            rows.iter()
                .map(|(n, d)| crate::rows::to_node(n, d))
                .collect()
        })
    }

    fn node_addresses(&self, node: &str) -> Result<model::LocalAddresses> {
        self.read(|tx| {
            let rows: Vec<(String, String)> = tx
                .prepare("SELECT app_id, addresses FROM node_addresses WHERE node = ?1")?
                .query_map([node], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            rows.into_iter()
                .map(|(app, text)| Ok((app.clone(), crate::rows::parse_addresses(&app, &text)?)))
                .collect()
        })
    }

    fn save_node_addresses(&self, node: &str, changes: &[model::LocalChange]) -> Result<()> {
        self.write(|tx| {
            for (app, addresses) in changes {
                match addresses {
                    Some(ips) => tx.execute(
                        "INSERT OR REPLACE INTO node_addresses (node, app_id, addresses) VALUES (?1, ?2, ?3)",
                        [node, app, &crate::rows::addresses_text(ips)],
                    )?,
                    None => tx.execute(
                        "DELETE FROM node_addresses WHERE node = ?1 AND app_id = ?2",
                        [node, app],
                    )?,
                };
            }
            Ok(())
        })
    }

    fn credentials(&self) -> Result<crate::Credentials> {
        self.read(|tx| {
            Ok(crate::Credentials {
                tokens: dump::tokens(tx)?,
                users: dump::users(tx)?,
            })
        })
    }

    fn export(&self) -> Result<crate::Dump> {
        self.read(dump::export)
    }

    fn import(&self, dump: &crate::Dump) -> Result<crate::Imported> {
        self.write(|tx| dump::import(tx, dump))
    }
}

/// Looks up one row, mapping "no row" to `None`.
fn optional<T>(r: rusqlite::Result<T>) -> Result<Option<T>> {
    Ok(r.optional()?)
}

fn new_id() -> String {
    secret::new_id()
}
