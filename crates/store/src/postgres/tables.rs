//! The revision counter, tokens, users and zone IP Access Rules in PostgreSQL. Secrets are
//! stored only as SHA-256 hashes; each rule change records its zone's revision.

use super::Tx;
use crate::rows::{by_zone, duplicate_rule, new_token, now, parse_time, to_rule, to_token};
use crate::{secret, Result, StoreError};
use model::{AccessRule, Permission, RuleFields, Token, User};
use std::collections::BTreeMap;
use tokio_postgres::types::ToSql;

/// A revision as the database stores it.
pub fn rev(revision: u64) -> i64 {
    i64::try_from(revision).unwrap_or(i64::MAX)
}

/// Takes the revision row's lock for the rest of the transaction: writers, on every node, go
/// one at a time.
pub async fn lock_revision(tx: &Tx<'_>) -> Result<()> {
    tx.execute(
        "SELECT value FROM meta WHERE key = 'revision' FOR UPDATE",
        &[],
    )
    .await?;
    Ok(())
}

/// Takes the next revision inside a write transaction.
pub async fn bump_revision(tx: &Tx<'_>) -> Result<i64> {
    Ok(tx
        .query_one(
            "UPDATE meta SET value = value + 1 WHERE key = 'revision' RETURNING value",
            &[],
        )
        .await?
        .get(0))
}

pub async fn current_revision(tx: &Tx<'_>) -> Result<u64> {
    let value: i64 = tx
        .query_one("SELECT value FROM meta WHERE key = 'revision'", &[])
        .await?
        .get(0);
    Ok(value as u64)
}

const TOKEN_COLUMNS: &str = "id, name, permissions, zones, revoked, created_on";

fn token_of(r: &tokio_postgres::Row) -> Result<Token> {
    to_token((r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5)))
}

pub async fn create_token(
    tx: &Tx<'_>,
    name: &str,
    permissions: &[Permission],
    zones: Option<&[String]>,
) -> Result<(Token, String)> {
    bump_revision(tx).await?;
    let (token, secret, row) = new_token(name, permissions, zones);
    tx.execute(
        "INSERT INTO tokens (id, name, secret_hash, permissions, zones, created_on) VALUES ($1, $2, $3, $4, $5, $6)",
        &[&row.id, &row.name, &row.secret_hash, &row.permissions, &row.zones, &row.created_on],
    )
    .await?;
    Ok((token, secret))
}

pub async fn list_tokens(tx: &Tx<'_>) -> Result<Vec<Token>> {
    let sql = format!(
        r#"SELECT {TOKEN_COLUMNS} FROM tokens ORDER BY created_on COLLATE "C", id COLLATE "C""#
    );
    tx.query(&sql, &[]).await?.iter().map(token_of).collect()
}

pub async fn revoke_token(tx: &Tx<'_>, id: &str) -> Result<bool> {
    let changed = tx
        .execute(
            "UPDATE tokens SET revoked = TRUE WHERE id = $1 AND NOT revoked",
            &[&id],
        )
        .await?;
    if changed > 0 {
        bump_revision(tx).await?;
    }
    Ok(changed > 0)
}

pub async fn token_by_secret(tx: &Tx<'_>, secret: &str) -> Result<Option<Token>> {
    let sql = format!("SELECT {TOKEN_COLUMNS}, secret_hash FROM tokens WHERE secret_hash = $1");
    let Some(row) = tx.query_opt(&sql, &[&secret::hash(secret)]).await? else {
        return Ok(None);
    };
    let stored: Vec<u8> = row.get(6);
    if secret::matches(secret, &stored) {
        Ok(Some(token_of(&row)?))
    } else {
        Ok(None)
    }
}

pub async fn create_user(tx: &Tx<'_>, email: &str) -> Result<(User, String)> {
    if tx
        .query_opt("SELECT id FROM users WHERE email = $1", &[&email])
        .await?
        .is_some()
    {
        return Err(StoreError::Conflict(format!("user {email} already exists")));
    }
    bump_revision(tx).await?;
    let key = secret::new_global_key();
    let user = User {
        id: secret::new_id(),
        email: email.to_owned(),
        created_on: now(),
    };
    tx.execute(
        "INSERT INTO users (id, email, key_hash, created_on) VALUES ($1, $2, $3, $4)",
        &[
            &user.id,
            &user.email,
            &secret::hash(&key),
            &model::timestamp(user.created_on),
        ],
    )
    .await?;
    Ok((user, key))
}

pub async fn user_by_key(tx: &Tx<'_>, email: &str, key: &str) -> Result<Option<User>> {
    let found = tx
        .query_opt(
            "SELECT id, email, created_on, key_hash FROM users WHERE email = $1",
            &[&email],
        )
        .await?;
    let stored: Vec<u8> = found.as_ref().map_or(vec![0u8; 32], |r| r.get(3));
    // Hash the key even for an unknown email, so the answer takes the same time either way.
    let ok = secret::matches(key, &stored);
    match found {
        Some(r) if ok => Ok(Some(User {
            id: r.get(0),
            email: r.get(1),
            created_on: parse_time(r.get(2))?,
        })),
        _ => Ok(None),
    }
}

const RULE_COLUMNS: &str = "id, zone_id, mode, target, value, notes, created_on, modified_on";

async fn query_rules(
    tx: &Tx<'_>,
    filter: &str,
    args: &[&(dyn ToSql + Sync)],
) -> Result<Vec<AccessRule>> {
    let sql = format!(
        r#"SELECT {RULE_COLUMNS} FROM access_rules {filter}
           ORDER BY zone_id COLLATE "C", created_on COLLATE "C", id COLLATE "C""#
    );
    tx.query(&sql, args)
        .await?
        .iter()
        .map(|r| {
            to_rule((
                r.get(0),
                r.get(1),
                r.get(2),
                r.get(3),
                r.get(4),
                r.get(5),
                r.get(6),
                r.get(7),
            ))
        })
        .collect()
}

/// Every rule, by zone.
pub async fn rules_all(tx: &Tx<'_>) -> Result<BTreeMap<String, Vec<AccessRule>>> {
    Ok(by_zone(query_rules(tx, "", &[]).await?, |r| &r.zone_id))
}

/// The whole rule list of each zone whose rules changed after `since`.
pub async fn rules_changed_since(
    tx: &Tx<'_>,
    since: u64,
) -> Result<Vec<(String, Vec<AccessRule>)>> {
    let mut out = Vec::new();
    for zone in zones_changed_since(tx, "access_rule_changes", since).await? {
        let rules = rules_of_zone(tx, &zone).await?;
        out.push((zone, rules));
    }
    Ok(out)
}

/// The zones whose per-zone list (access rules, certificates) changed after `since`, from
/// that list's `*_changes` table.
pub async fn zones_changed_since(tx: &Tx<'_>, changes: &str, since: u64) -> Result<Vec<String>> {
    let sql = format!(
        r#"SELECT zone_id FROM {changes} WHERE revision > $1 ORDER BY zone_id COLLATE "C""#
    );
    Ok(tx
        .query(&sql, &[&rev(since)])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

/// Records at a new revision that the zone's list in `changes` changed.
pub async fn zone_changed(tx: &Tx<'_>, changes: &str, zone_id: &str) -> Result<()> {
    let revision = bump_revision(tx).await?;
    let sql = format!(
        "INSERT INTO {changes} (zone_id, revision) VALUES ($1, $2)
         ON CONFLICT (zone_id) DO UPDATE SET revision = EXCLUDED.revision"
    );
    tx.execute(&sql, &[&zone_id, &revision]).await?;
    Ok(())
}

pub async fn rules_of_zone(tx: &Tx<'_>, zone_id: &str) -> Result<Vec<AccessRule>> {
    query_rules(tx, "WHERE zone_id = $1", &[&zone_id]).await
}

pub async fn rule(tx: &Tx<'_>, zone_id: &str, id: &str) -> Result<Option<AccessRule>> {
    Ok(
        query_rules(tx, "WHERE zone_id = $1 AND id = $2", &[&zone_id, &id])
            .await?
            .pop(),
    )
}

/// Refuses a second rule on the same target and value in one zone.
async fn check_unique(tx: &Tx<'_>, zone_id: &str, fields: &RuleFields, except: &str) -> Result<()> {
    let other = tx
        .query_opt(
            "SELECT id FROM access_rules WHERE zone_id = $1 AND target = $2 AND value = $3 AND id != $4",
            &[&zone_id, &fields.target.as_str(), &fields.value, &except],
        )
        .await?;
    match other {
        Some(row) => Err(duplicate_rule(fields, row.get(0))),
        None => Ok(()),
    }
}

pub async fn create_rule(tx: &Tx<'_>, zone_id: &str, fields: &RuleFields) -> Result<AccessRule> {
    if super::config::zone_where(tx, "id", zone_id)
        .await?
        .is_none()
    {
        return Err(StoreError::NotFound("zone"));
    }
    check_unique(tx, zone_id, fields, "").await?;
    let t = now();
    let rule = AccessRule {
        id: secret::new_id(),
        zone_id: zone_id.to_owned(),
        fields: fields.clone(),
        created_on: t,
        modified_on: t,
    };
    tx.execute(
        &format!(
            "INSERT INTO access_rules ({RULE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)"
        ),
        &[
            &rule.id,
            &zone_id,
            &fields.mode.as_str(),
            &fields.target.as_str(),
            &fields.value,
            &fields.notes,
            &model::timestamp(t),
        ],
    )
    .await?;
    zone_changed(tx, "access_rule_changes", zone_id).await?;
    Ok(rule)
}

pub async fn update_rule(
    tx: &Tx<'_>,
    zone_id: &str,
    id: &str,
    fields: &RuleFields,
) -> Result<Option<AccessRule>> {
    let Some(mut rule) = rule(tx, zone_id, id).await? else {
        return Ok(None);
    };
    check_unique(tx, zone_id, fields, id).await?;
    rule.fields = fields.clone();
    rule.modified_on = now();
    tx.execute(
        "UPDATE access_rules SET mode = $1, target = $2, value = $3, notes = $4, modified_on = $5
         WHERE id = $6",
        &[
            &fields.mode.as_str(),
            &fields.target.as_str(),
            &fields.value,
            &fields.notes,
            &model::timestamp(rule.modified_on),
            &id,
        ],
    )
    .await?;
    zone_changed(tx, "access_rule_changes", zone_id).await?;
    Ok(Some(rule))
}

pub async fn delete_rule(tx: &Tx<'_>, zone_id: &str, id: &str) -> Result<bool> {
    let deleted = tx
        .execute(
            "DELETE FROM access_rules WHERE zone_id = $1 AND id = $2",
            &[&zone_id, &id],
        )
        .await?;
    if deleted > 0 {
        zone_changed(tx, "access_rule_changes", zone_id).await?;
    }
    Ok(deleted > 0)
}
