//! Export and import of every SQLite row, for `spectra store copy`.

use super::{bump_revision, current_revision};
use crate::dump::*;
use crate::{Result, StoreError};
use rusqlite::{params, OptionalExtension, Transaction};

pub fn export(tx: &Transaction) -> Result<Dump> {
    let zones = tx
        .prepare("SELECT id, name, created_on, modified_on FROM zones ORDER BY id")?
        .query_map([], |r| {
            Ok(ZoneDump {
                id: r.get(0)?,
                name: r.get(1)?,
                created_on: r.get(2)?,
                modified_on: r.get(3)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    let apps = tx
        .prepare(
            "SELECT id, zone_id, protocol, dns_name, created_on, modified_on, config, edge_addresses
             FROM apps ORDER BY id",
        )?
        .query_map([], |r| {
            Ok(AppDump {
                id: r.get(0)?,
                zone_id: r.get(1)?,
                protocol: r.get(2)?,
                dns_name: r.get(3)?,
                created_on: r.get(4)?,
                modified_on: r.get(5)?,
                config: r.get(6)?,
                edge_addresses: r.get(7)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    let tokens = tokens(tx)?;
    let users = users(tx)?;
    let access_rules = tx
        .prepare(
            "SELECT id, zone_id, mode, target, value, notes, created_on, modified_on
             FROM access_rules ORDER BY id",
        )?
        .query_map([], |r| {
            Ok(RuleDump {
                id: r.get(0)?,
                zone_id: r.get(1)?,
                mode: r.get(2)?,
                target: r.get(3)?,
                value: r.get(4)?,
                notes: r.get(5)?,
                created_on: r.get(6)?,
                modified_on: r.get(7)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    let certificates = tx
        .prepare("SELECT id, zone_id, uploaded_on, modified_on, data FROM custom_certificates ORDER BY id")?
        .query_map([], |r| {
            Ok(CertificateDump {
                id: r.get(0)?,
                zone_id: r.get(1)?,
                uploaded_on: r.get(2)?,
                modified_on: r.get(3)?,
                data: r.get(4)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(Dump {
        zones,
        apps,
        tokens,
        users,
        access_rules,
        certificates,
    })
}

pub fn tokens(tx: &Transaction) -> Result<Vec<TokenDump>> {
    let tokens = tx
        .prepare("SELECT id, name, secret_hash, permissions, zones, revoked, created_on FROM tokens ORDER BY id")?
        .query_map([], |r| {
            Ok(TokenDump {
                id: r.get(0)?,
                name: r.get(1)?,
                secret_hash: r.get(2)?,
                permissions: r.get(3)?,
                zones: r.get(4)?,
                revoked: r.get(5)?,
                created_on: r.get(6)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(tokens)
}

pub fn users(tx: &Transaction) -> Result<Vec<UserDump>> {
    let users = tx
        .prepare("SELECT id, email, key_hash, created_on FROM users ORDER BY id")?
        .query_map([], |r| {
            Ok(UserDump {
                id: r.get(0)?,
                email: r.get(1)?,
                key_hash: r.get(2)?,
                created_on: r.get(3)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(users)
}

/// The id of the row of `table` whose `column` is `value`.
fn id_where(tx: &Transaction, table: &str, column: &str, value: &str) -> Result<Option<String>> {
    Ok(tx
        .query_row(
            &format!("SELECT id FROM {table} WHERE {column} = ?1"),
            [value],
            |r| r.get(0),
        )
        .optional()?)
}

pub fn import(tx: &Transaction, dump: &Dump) -> Result<Imported> {
    for zone in &dump.zones {
        if let Some(other) = id_where(tx, "zones", "name", &zone.name)? {
            if other != zone.id {
                return Err(StoreError::Conflict(format!(
                    "zone {} exists here as {other}",
                    zone.name
                )));
            }
        }
    }
    for user in &dump.users {
        if let Some(other) = id_where(tx, "users", "email", &user.email)? {
            if other != user.id {
                return Err(StoreError::Conflict(format!(
                    "user {} exists here as {other}",
                    user.email
                )));
            }
        }
    }
    // What is added gets the next revision, taken at the end only if something was added
    // (the write lock is held, so nobody takes it meanwhile).
    let revision = current_revision(tx)? + 1;
    let mut added = Imported::default();
    for z in &dump.zones {
        added.zones += tx.execute(
            "INSERT OR IGNORE INTO zones (id, name, created_on, modified_on, revision) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![z.id, z.name, z.created_on, z.modified_on, revision],
        )?;
    }
    for a in &dump.apps {
        added.apps += tx.execute(
            "INSERT OR IGNORE INTO apps (id, zone_id, protocol, dns_name, created_on, modified_on, config, revision, edge_addresses)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![a.id, a.zone_id, a.protocol, a.dns_name, a.created_on, a.modified_on, a.config, revision, a.edge_addresses],
        )?;
    }
    for t in &dump.tokens {
        added.tokens += tx.execute(
            "INSERT OR IGNORE INTO tokens (id, name, secret_hash, permissions, zones, revoked, created_on)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![t.id, t.name, t.secret_hash, t.permissions, t.zones, t.revoked, t.created_on],
        )?;
    }
    for u in &dump.users {
        added.users += tx.execute(
            "INSERT OR IGNORE INTO users (id, email, key_hash, created_on) VALUES (?1, ?2, ?3, ?4)",
            params![u.id, u.email, u.key_hash, u.created_on],
        )?;
    }
    for r in &dump.access_rules {
        let n = tx.execute(
            "INSERT OR IGNORE INTO access_rules (id, zone_id, mode, target, value, notes, created_on, modified_on)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![r.id, r.zone_id, r.mode, r.target, r.value, r.notes, r.created_on, r.modified_on],
        )?;
        if n > 0 {
            tx.execute(
                "INSERT OR REPLACE INTO access_rule_changes (zone_id, revision) VALUES (?1, ?2)",
                params![r.zone_id, revision],
            )?;
        }
        added.access_rules += n;
    }
    for c in &dump.certificates {
        let n = tx.execute(
            "INSERT OR IGNORE INTO custom_certificates (id, zone_id, uploaded_on, modified_on, data)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![c.id, c.zone_id, c.uploaded_on, c.modified_on, c.data],
        )?;
        if n > 0 {
            tx.execute(
                "INSERT OR REPLACE INTO certificate_changes (zone_id, revision) VALUES (?1, ?2)",
                params![c.zone_id, revision],
            )?;
        }
        added.certificates += n;
    }
    if added.total() > 0 {
        bump_revision(tx)?;
    }
    Ok(added)
}
