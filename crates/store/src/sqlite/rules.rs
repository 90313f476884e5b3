//! Zone IP Access Rules in SQLite. Each change records its zone's revision, so `changes_since`
//! hands the data plane the whole rule list of every zone whose rules changed.

use super::{new_id, optional, zone_changed, zones_changed_since};
use crate::rows::{by_zone, duplicate_rule, now, to_rule, RuleRow};
use crate::{Result, StoreError};
use model::{AccessRule, RuleFields};
use rusqlite::{params, Row, Transaction};
use std::collections::BTreeMap;

const COLUMNS: &str = "id, zone_id, mode, target, value, notes, created_on, modified_on";

fn rule_from_row(row: &Row) -> rusqlite::Result<RuleRow> {
    row.try_into()
}

fn query(tx: &Transaction, filter: &str, args: impl rusqlite::Params) -> Result<Vec<AccessRule>> {
    let rows: Vec<RuleRow> = tx
        .prepare(&format!(
            "SELECT {COLUMNS} FROM access_rules {filter} ORDER BY zone_id, created_on, id"
        ))?
        .query_map(args, rule_from_row)?
        .collect::<rusqlite::Result<_>>()?;
    rows.into_iter().map(to_rule).collect()
}

/// Every rule, by zone.
pub fn all(tx: &Transaction) -> Result<BTreeMap<String, Vec<AccessRule>>> {
    Ok(by_zone(query(tx, "", [])?, |x| &x.zone_id))
}

/// The whole rule list of each zone whose rules changed after `since`.
pub fn changed_since(tx: &Transaction, since: u64) -> Result<Vec<(String, Vec<AccessRule>)>> {
    zones_changed_since(tx, "access_rule_changes", since)?
        .into_iter()
        .map(|zone| Ok((zone.clone(), of_zone(tx, &zone)?)))
        .collect()
}

pub fn of_zone(tx: &Transaction, zone_id: &str) -> Result<Vec<AccessRule>> {
    query(tx, "WHERE zone_id = ?1", [zone_id])
}

pub fn one(tx: &Transaction, zone_id: &str, id: &str) -> Result<Option<AccessRule>> {
    Ok(query(tx, "WHERE zone_id = ?1 AND id = ?2", [zone_id, id])?.pop())
}

/// Refuses a second rule on the same target and value in one zone.
fn check_unique(tx: &Transaction, zone_id: &str, fields: &RuleFields, except: &str) -> Result<()> {
    let other: Option<String> = optional(tx.query_row(
        "SELECT id FROM access_rules WHERE zone_id = ?1 AND target = ?2 AND value = ?3 AND id != ?4",
        params![zone_id, fields.target.as_str(), fields.value, except],
        |r| r.get(0),
    ))?;
    match other {
        Some(id) => Err(duplicate_rule(fields, &id)),
        None => Ok(()),
    }
}

pub fn create(tx: &Transaction, zone_id: &str, fields: &RuleFields) -> Result<AccessRule> {
    if super::config::zone_where(tx, "id", zone_id)?.is_none() {
        return Err(StoreError::NotFound("zone"));
    }
    check_unique(tx, zone_id, fields, "")?;
    let t = now();
    let rule = AccessRule {
        id: new_id(),
        zone_id: zone_id.to_owned(),
        fields: fields.clone(),
        created_on: t,
        modified_on: t,
    };
    tx.execute(
        &format!("INSERT INTO access_rules ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)"),
        params![
            rule.id,
            zone_id,
            fields.mode.as_str(),
            fields.target.as_str(),
            fields.value,
            fields.notes,
            model::timestamp(t)
        ],
    )?;
    zone_changed(tx, "access_rule_changes", zone_id)?;
    Ok(rule)
}

pub fn update(
    tx: &Transaction,
    zone_id: &str,
    id: &str,
    fields: &RuleFields,
) -> Result<Option<AccessRule>> {
    let Some(mut rule) = one(tx, zone_id, id)? else {
        return Ok(None);
    };
    check_unique(tx, zone_id, fields, id)?;
    rule.fields = fields.clone();
    rule.modified_on = now();
    tx.execute(
        "UPDATE access_rules SET mode = ?1, target = ?2, value = ?3, notes = ?4, modified_on = ?5
         WHERE id = ?6",
        params![
            fields.mode.as_str(),
            fields.target.as_str(),
            fields.value,
            fields.notes,
            model::timestamp(rule.modified_on),
            id
        ],
    )?;
    zone_changed(tx, "access_rule_changes", zone_id)?;
    Ok(Some(rule))
}

pub fn delete(tx: &Transaction, zone_id: &str, id: &str) -> Result<bool> {
    let deleted = tx.execute(
        "DELETE FROM access_rules WHERE zone_id = ?1 AND id = ?2",
        [zone_id, id],
    )?;
    if deleted > 0 {
        zone_changed(tx, "access_rule_changes", zone_id)?;
    }
    Ok(deleted > 0)
}

/// Removes a zone's rules as the zone goes (the zone's tombstone tells the data plane).
pub fn delete_zone(tx: &Transaction, zone_id: &str) -> Result<()> {
    tx.execute("DELETE FROM access_rules WHERE zone_id = ?1", [zone_id])?;
    tx.execute(
        "DELETE FROM access_rule_changes WHERE zone_id = ?1",
        [zone_id],
    )?;
    Ok(())
}
