//! API tokens and users in SQLite; secrets are stored only as SHA-256 hashes.

use super::{bump_revision, new_id, optional};
use crate::rows::{new_token, now, parse_time, to_token, TokenRow};
use crate::{secret, Result, StoreError};
use model::{Permission, Token, User};
use rusqlite::{params, Row, Transaction};

const TOKEN_COLUMNS: &str = "id, name, permissions, zones, revoked, created_on";

fn token_from_row(row: &Row) -> rusqlite::Result<TokenRow> {
    row.try_into()
}

pub fn create_token(
    tx: &Transaction,
    name: &str,
    permissions: &[Permission],
    zones: Option<&[String]>,
) -> Result<(Token, String)> {
    bump_revision(tx)?;
    let (token, secret, row) = new_token(name, permissions, zones);
    tx.execute(
        "INSERT INTO tokens (id, name, secret_hash, permissions, zones, created_on) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![row.id, row.name, row.secret_hash, row.permissions, row.zones, row.created_on],
    )?;
    Ok((token, secret))
}

pub fn list_tokens(tx: &Transaction) -> Result<Vec<Token>> {
    let rows: Vec<_> = tx
        .prepare(&format!(
            "SELECT {TOKEN_COLUMNS} FROM tokens ORDER BY created_on, id"
        ))?
        .query_map([], token_from_row)?
        .collect::<rusqlite::Result<_>>()?;
    rows.into_iter().map(to_token).collect()
}

pub fn revoke_token(tx: &Transaction, id: &str) -> Result<bool> {
    let changed = tx.execute(
        "UPDATE tokens SET revoked = 1 WHERE id = ?1 AND revoked = 0",
        [id],
    )?;
    if changed > 0 {
        bump_revision(tx)?;
    }
    Ok(changed > 0)
}

pub fn token_by_secret(tx: &Transaction, secret: &str) -> Result<Option<Token>> {
    let found = optional(tx.query_row(
        &format!("SELECT {TOKEN_COLUMNS}, secret_hash FROM tokens WHERE secret_hash = ?1"),
        [secret::hash(secret)],
        |row| Ok((token_from_row(row)?, row.get::<_, Vec<u8>>(6)?)),
    ))?;
    match found {
        Some((row, stored)) if secret::matches(secret, &stored) => Ok(Some(to_token(row)?)),
        _ => Ok(None),
    }
}

pub fn create_user(tx: &Transaction, email: &str) -> Result<(User, String)> {
    let exists = optional(
        tx.query_row("SELECT id FROM users WHERE email = ?1", [email], |r| {
            r.get::<_, String>(0)
        }),
    )?;
    if exists.is_some() {
        return Err(StoreError::Conflict(format!("user {email} already exists")));
    }
    bump_revision(tx)?;
    let key = secret::new_global_key();
    let user = User {
        id: new_id(),
        email: email.to_owned(),
        created_on: now(),
    };
    tx.execute(
        "INSERT INTO users (id, email, key_hash, created_on) VALUES (?1, ?2, ?3, ?4)",
        params![
            user.id,
            user.email,
            secret::hash(&key),
            model::timestamp(user.created_on)
        ],
    )?;
    Ok((user, key))
}

pub fn user_by_key(tx: &Transaction, email: &str, key: &str) -> Result<Option<User>> {
    let found = optional(tx.query_row(
        "SELECT id, email, created_on, key_hash FROM users WHERE email = ?1",
        [email],
        |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Vec<u8>>(3)?,
            ))
        },
    ))?;
    // Hash the key even for an unknown email, so the answer takes the same time either way.
    let stored = found.as_ref().map_or(&[0u8; 32][..], |f| &f.3[..]);
    let ok = secret::matches(key, stored);
    match found {
        Some((id, email, created_on, _)) if ok => Ok(Some(User {
            id,
            email,
            created_on: parse_time(&created_on)?,
        })),
        _ => Ok(None),
    }
}
