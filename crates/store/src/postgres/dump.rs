//! Export and import of every PostgreSQL row, for `spectra store copy`.

use super::tables::{bump_revision, current_revision};
use super::Tx;
use crate::dump::*;
use crate::{Result, StoreError};

pub async fn export(tx: &Tx<'_>) -> Result<Dump> {
    let zones = tx
        .query(
            "SELECT id, name, created_on, modified_on FROM zones ORDER BY id",
            &[],
        )
        .await?
        .iter()
        .map(|r| ZoneDump {
            id: r.get(0),
            name: r.get(1),
            created_on: r.get(2),
            modified_on: r.get(3),
        })
        .collect();
    let apps = tx
        .query(
            "SELECT id, zone_id, protocol, dns_name, created_on, modified_on, config, edge_addresses
             FROM apps ORDER BY id",
            &[],
        )
        .await?
        .iter()
        .map(|r| AppDump {
            id: r.get(0),
            zone_id: r.get(1),
            protocol: r.get(2),
            dns_name: r.get(3),
            created_on: r.get(4),
            modified_on: r.get(5),
            config: r.get(6),
            edge_addresses: r.get(7),
        })
        .collect();
    let tokens = tokens(tx).await?;
    let users = users(tx).await?;
    let access_rules = tx
        .query(
            "SELECT id, zone_id, mode, target, value, notes, created_on, modified_on
             FROM access_rules ORDER BY id",
            &[],
        )
        .await?
        .iter()
        .map(|r| RuleDump {
            id: r.get(0),
            zone_id: r.get(1),
            mode: r.get(2),
            target: r.get(3),
            value: r.get(4),
            notes: r.get(5),
            created_on: r.get(6),
            modified_on: r.get(7),
        })
        .collect();
    let certificates = tx
        .query(
            "SELECT id, zone_id, uploaded_on, modified_on, data FROM custom_certificates ORDER BY id",
            &[],
        )
        .await?
        .iter()
        .map(|r| CertificateDump {
            id: r.get(0),
            zone_id: r.get(1),
            uploaded_on: r.get(2),
            modified_on: r.get(3),
            data: r.get(4),
        })
        .collect();
    Ok(Dump {
        zones,
        apps,
        tokens,
        users,
        access_rules,
        certificates,
    })
}

pub async fn tokens(tx: &Tx<'_>) -> Result<Vec<TokenDump>> {
    let tokens = tx
        .query(
            "SELECT id, name, secret_hash, permissions, zones, revoked, created_on FROM tokens ORDER BY id",
            &[],
        )
        .await?
        .iter()
        .map(|r| TokenDump {
            id: r.get(0),
            name: r.get(1),
            secret_hash: r.get(2),
            permissions: r.get(3),
            zones: r.get(4),
            revoked: r.get(5),
            created_on: r.get(6),
        })
        .collect();
    Ok(tokens)
}

pub async fn users(tx: &Tx<'_>) -> Result<Vec<UserDump>> {
    let users = tx
        .query(
            "SELECT id, email, key_hash, created_on FROM users ORDER BY id",
            &[],
        )
        .await?
        .iter()
        .map(|r| UserDump {
            id: r.get(0),
            email: r.get(1),
            key_hash: r.get(2),
            created_on: r.get(3),
        })
        .collect();
    Ok(users)
}

/// The id of the row of `table` whose `column` is `value`.
async fn id_where(tx: &Tx<'_>, table: &str, column: &str, value: &str) -> Result<Option<String>> {
    let sql = format!("SELECT id FROM {table} WHERE {column} = $1");
    Ok(tx.query_opt(&sql, &[&value]).await?.map(|r| r.get(0)))
}

pub async fn import(tx: &Tx<'_>, dump: &Dump) -> Result<Imported> {
    for zone in &dump.zones {
        if let Some(other) = id_where(tx, "zones", "name", &zone.name).await? {
            if other != zone.id {
                return Err(StoreError::Conflict(format!(
                    "zone {} exists here as {other}",
                    zone.name
                )));
            }
        }
    }
    for user in &dump.users {
        if let Some(other) = id_where(tx, "users", "email", &user.email).await? {
            if other != user.id {
                return Err(StoreError::Conflict(format!(
                    "user {} exists here as {other}",
                    user.email
                )));
            }
        }
    }
    // What is added gets the next revision, taken at the end only if something was added (the
    // revision lock is held, so nobody takes it meanwhile).
    let revision = current_revision(tx).await? as i64 + 1;
    let mut added = Imported::default();
    for z in &dump.zones {
        added.zones += tx
            .execute(
                "INSERT INTO zones (id, name, created_on, modified_on, revision) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT DO NOTHING",
                &[&z.id, &z.name, &z.created_on, &z.modified_on, &revision],
            )
            .await? as usize;
    }
    for a in &dump.apps {
        added.apps += tx
            .execute(
                "INSERT INTO apps (id, zone_id, protocol, dns_name, created_on, modified_on, config, revision, edge_addresses)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING",
                &[&a.id, &a.zone_id, &a.protocol, &a.dns_name, &a.created_on, &a.modified_on, &a.config, &revision, &a.edge_addresses],
            )
            .await? as usize;
    }
    for t in &dump.tokens {
        added.tokens += tx
            .execute(
                "INSERT INTO tokens (id, name, secret_hash, permissions, zones, revoked, created_on)
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
                &[&t.id, &t.name, &t.secret_hash, &t.permissions, &t.zones, &t.revoked, &t.created_on],
            )
            .await? as usize;
    }
    for u in &dump.users {
        added.users += tx
            .execute(
                "INSERT INTO users (id, email, key_hash, created_on) VALUES ($1, $2, $3, $4)
                 ON CONFLICT DO NOTHING",
                &[&u.id, &u.email, &u.key_hash, &u.created_on],
            )
            .await? as usize;
    }
    for r in &dump.access_rules {
        let n = tx
            .execute(
                "INSERT INTO access_rules (id, zone_id, mode, target, value, notes, created_on, modified_on)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
                &[&r.id, &r.zone_id, &r.mode, &r.target, &r.value, &r.notes, &r.created_on, &r.modified_on],
            )
            .await?;
        if n > 0 {
            tx.execute(
                "INSERT INTO access_rule_changes (zone_id, revision) VALUES ($1, $2)
                 ON CONFLICT (zone_id) DO UPDATE SET revision = EXCLUDED.revision",
                &[&r.zone_id, &revision],
            )
            .await?;
        }
        added.access_rules += n as usize;
    }
    for c in &dump.certificates {
        let n = tx
            .execute(
                "INSERT INTO custom_certificates (id, zone_id, uploaded_on, modified_on, data)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                &[&c.id, &c.zone_id, &c.uploaded_on, &c.modified_on, &c.data],
            )
            .await?;
        if n > 0 {
            tx.execute(
                "INSERT INTO certificate_changes (zone_id, revision) VALUES ($1, $2)
                 ON CONFLICT (zone_id) DO UPDATE SET revision = EXCLUDED.revision",
                &[&c.zone_id, &revision],
            )
            .await?;
        }
        added.certificates += n as usize;
    }
    if added.total() > 0 {
        bump_revision(tx).await?;
    }
    Ok(added)
}
