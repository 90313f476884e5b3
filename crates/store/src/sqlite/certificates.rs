//! Custom certificates in SQLite. Each change records its zone's revision, so `changes_since`
//! hands the data plane the whole certificate list of every zone whose certificates changed.

use super::{new_id, zone_changed, zones_changed_since};
use crate::rows::{by_zone, certificate_data, now, to_certificate, CertificateRow};
use crate::{Result, StoreError};
use model::{Certificate, CertificateFields};
use rusqlite::{params, Transaction};
use std::collections::BTreeMap;

const COLUMNS: &str = "id, zone_id, uploaded_on, modified_on, data";

fn query(tx: &Transaction, filter: &str, args: impl rusqlite::Params) -> Result<Vec<Certificate>> {
    let rows: Vec<CertificateRow> = tx
        .prepare(&format!(
            "SELECT {COLUMNS} FROM custom_certificates {filter} ORDER BY zone_id, uploaded_on, id"
        ))?
        .query_map(args, |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    rows.into_iter().map(to_certificate).collect()
}

/// Every certificate, by zone.
pub fn all(tx: &Transaction) -> Result<BTreeMap<String, Vec<Certificate>>> {
    Ok(by_zone(query(tx, "", [])?, |x| &x.zone_id))
}

/// The whole certificate list of each zone whose certificates changed after `since`.
pub fn changed_since(tx: &Transaction, since: u64) -> Result<Vec<(String, Vec<Certificate>)>> {
    zones_changed_since(tx, "certificate_changes", since)?
        .into_iter()
        .map(|zone| Ok((zone.clone(), of_zone(tx, &zone)?)))
        .collect()
}

pub fn of_zone(tx: &Transaction, zone_id: &str) -> Result<Vec<Certificate>> {
    query(tx, "WHERE zone_id = ?1", [zone_id])
}

pub fn one(tx: &Transaction, zone_id: &str, id: &str) -> Result<Option<Certificate>> {
    Ok(query(tx, "WHERE zone_id = ?1 AND id = ?2", [zone_id, id])?.pop())
}

pub fn create(tx: &Transaction, zone_id: &str, fields: &CertificateFields) -> Result<Certificate> {
    if super::config::zone_where(tx, "id", zone_id)?.is_none() {
        return Err(StoreError::NotFound("zone"));
    }
    let t = now();
    let c = Certificate {
        id: new_id(),
        zone_id: zone_id.to_owned(),
        fields: fields.clone(),
        uploaded_on: t,
        modified_on: t,
    };
    tx.execute(
        &format!("INSERT INTO custom_certificates ({COLUMNS}) VALUES (?1, ?2, ?3, ?3, ?4)"),
        params![
            c.id,
            zone_id,
            model::timestamp(t),
            certificate_data(fields)?
        ],
    )?;
    zone_changed(tx, "certificate_changes", zone_id)?;
    Ok(c)
}

pub fn update(
    tx: &Transaction,
    zone_id: &str,
    id: &str,
    fields: &CertificateFields,
) -> Result<Option<Certificate>> {
    let Some(mut c) = one(tx, zone_id, id)? else {
        return Ok(None);
    };
    c.fields = fields.clone();
    c.modified_on = now();
    tx.execute(
        "UPDATE custom_certificates SET data = ?1, modified_on = ?2 WHERE id = ?3",
        params![
            certificate_data(fields)?,
            model::timestamp(c.modified_on),
            id
        ],
    )?;
    zone_changed(tx, "certificate_changes", zone_id)?;
    Ok(Some(c))
}

pub fn delete(tx: &Transaction, zone_id: &str, id: &str) -> Result<bool> {
    let deleted = tx.execute(
        "DELETE FROM custom_certificates WHERE zone_id = ?1 AND id = ?2",
        [zone_id, id],
    )?;
    if deleted > 0 {
        zone_changed(tx, "certificate_changes", zone_id)?;
    }
    Ok(deleted > 0)
}

/// Removes a zone's certificates as the zone goes.
pub fn delete_zone(tx: &Transaction, zone_id: &str) -> Result<()> {
    tx.execute(
        "DELETE FROM custom_certificates WHERE zone_id = ?1",
        [zone_id],
    )?;
    tx.execute(
        "DELETE FROM certificate_changes WHERE zone_id = ?1",
        [zone_id],
    )?;
    Ok(())
}
