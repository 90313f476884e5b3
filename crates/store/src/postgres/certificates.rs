//! Custom certificates in PostgreSQL. Each change records its zone's revision, as access rules
//! do, so every node's data plane gets the zone's whole certificate list.

use super::tables::{zone_changed, zones_changed_since};
use super::Tx;
use crate::rows::{by_zone, certificate_data, now, to_certificate};
use crate::{secret, Result, StoreError};
use model::{Certificate, CertificateFields};
use std::collections::BTreeMap;
use tokio_postgres::types::ToSql;

const COLUMNS: &str = "id, zone_id, uploaded_on, modified_on, data";

async fn query(
    tx: &Tx<'_>,
    filter: &str,
    args: &[&(dyn ToSql + Sync)],
) -> Result<Vec<Certificate>> {
    let sql = format!(
        r#"SELECT {COLUMNS} FROM custom_certificates {filter}
           ORDER BY zone_id COLLATE "C", uploaded_on COLLATE "C", id COLLATE "C""#
    );
    tx.query(&sql, args)
        .await?
        .iter()
        .map(|r| to_certificate((r.get(0), r.get(1), r.get(2), r.get(3), r.get(4))))
        .collect()
}

/// Every certificate, by zone.
pub async fn all(tx: &Tx<'_>) -> Result<BTreeMap<String, Vec<Certificate>>> {
    Ok(by_zone(query(tx, "", &[]).await?, |c| &c.zone_id))
}

/// The whole certificate list of each zone whose certificates changed after `since`.
pub async fn changed_since(tx: &Tx<'_>, since: u64) -> Result<Vec<(String, Vec<Certificate>)>> {
    let mut out = Vec::new();
    for zone in zones_changed_since(tx, "certificate_changes", since).await? {
        let list = of_zone(tx, &zone).await?;
        out.push((zone, list));
    }
    Ok(out)
}

pub async fn of_zone(tx: &Tx<'_>, zone_id: &str) -> Result<Vec<Certificate>> {
    query(tx, "WHERE zone_id = $1", &[&zone_id]).await
}

pub async fn one(tx: &Tx<'_>, zone_id: &str, id: &str) -> Result<Option<Certificate>> {
    Ok(
        query(tx, "WHERE zone_id = $1 AND id = $2", &[&zone_id, &id])
            .await?
            .pop(),
    )
}

pub async fn create(tx: &Tx<'_>, zone_id: &str, fields: &CertificateFields) -> Result<Certificate> {
    if super::config::zone_where(tx, "id", zone_id)
        .await?
        .is_none()
    {
        return Err(StoreError::NotFound("zone"));
    }
    let t = now();
    let c = Certificate {
        id: secret::new_id(),
        zone_id: zone_id.to_owned(),
        fields: fields.clone(),
        uploaded_on: t,
        modified_on: t,
    };
    tx.execute(
        &format!("INSERT INTO custom_certificates ({COLUMNS}) VALUES ($1, $2, $3, $3, $4)"),
        &[
            &c.id,
            &zone_id,
            &model::timestamp(t),
            &certificate_data(fields)?,
        ],
    )
    .await?;
    zone_changed(tx, "certificate_changes", zone_id).await?;
    Ok(c)
}

pub async fn update(
    tx: &Tx<'_>,
    zone_id: &str,
    id: &str,
    fields: &CertificateFields,
) -> Result<Option<Certificate>> {
    let Some(mut c) = one(tx, zone_id, id).await? else {
        return Ok(None);
    };
    c.fields = fields.clone();
    c.modified_on = now();
    tx.execute(
        "UPDATE custom_certificates SET data = $1, modified_on = $2 WHERE id = $3",
        &[
            &certificate_data(fields)?,
            &model::timestamp(c.modified_on),
            &id,
        ],
    )
    .await?;
    zone_changed(tx, "certificate_changes", zone_id).await?;
    Ok(Some(c))
}

pub async fn delete(tx: &Tx<'_>, zone_id: &str, id: &str) -> Result<bool> {
    let deleted = tx
        .execute(
            "DELETE FROM custom_certificates WHERE zone_id = $1 AND id = $2",
            &[&zone_id, &id],
        )
        .await?;
    if deleted > 0 {
        zone_changed(tx, "certificate_changes", zone_id).await?;
    }
    Ok(deleted > 0)
}

/// Removes a zone's certificates as the zone goes.
pub async fn delete_zone(tx: &Tx<'_>, zone_id: &str) -> Result<()> {
    tx.execute(
        "DELETE FROM custom_certificates WHERE zone_id = $1",
        &[&zone_id],
    )
    .await?;
    tx.execute(
        "DELETE FROM certificate_changes WHERE zone_id = $1",
        &[&zone_id],
    )
    .await?;
    Ok(())
}
