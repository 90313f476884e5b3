//! Analytics minutes in SQLite.

use crate::analytics::{from_columns, to_columns, COLUMNS, KEY};
use crate::Result;
use model::analytics::MinuteRow;
use rusqlite::{params, Transaction};

pub fn save(tx: &Transaction, node: &str, rows: &[MinuteRow]) -> Result<()> {
    let mut insert = tx.prepare_cached(&format!(
        "INSERT INTO analytics_minutes ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
         ON CONFLICT ({KEY}) DO UPDATE SET count = excluded.count,
             bytes_ingress = excluded.bytes_ingress, bytes_egress = excluded.bytes_egress,
             durations = excluded.durations"
    ))?;
    for row in rows {
        let c = to_columns(node, row)?;
        insert.execute(params![
            c.0, c.1, c.2, c.3, c.4, c.5, c.6, c.7, c.8, c.9, c.10
        ])?;
    }
    Ok(())
}

pub fn load(
    tx: &Transaction,
    zone_id: &str,
    since: i64,
    until: i64,
) -> Result<Vec<(String, MinuteRow)>> {
    let mut select = tx.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM analytics_minutes WHERE zone_id = ?1 AND minute >= ?2 AND minute < ?3"
    ))?;
    let rows = select
        .query_map(params![zone_id, since, until], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
                r.get(8)?,
                r.get(9)?,
                r.get(10)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter().map(from_columns).collect()
}

pub fn prune(tx: &Transaction, before: i64) -> Result<u64> {
    Ok(tx.execute("DELETE FROM analytics_minutes WHERE minute < ?1", [before])? as u64)
}
