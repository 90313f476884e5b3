//! Analytics minutes in PostgreSQL.

use super::Tx;
use crate::analytics::{from_columns, to_columns, COLUMNS, KEY};
use crate::Result;
use model::analytics::MinuteRow;

pub async fn save(tx: &Tx<'_>, node: &str, rows: &[MinuteRow]) -> Result<()> {
    let insert = tx
        .prepare(&format!(
            "INSERT INTO analytics_minutes ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
             ON CONFLICT ({KEY}) DO UPDATE SET count = EXCLUDED.count,
                 bytes_ingress = EXCLUDED.bytes_ingress, bytes_egress = EXCLUDED.bytes_egress,
                 durations = EXCLUDED.durations"
        ))
        .await?;
    for row in rows {
        let c = to_columns(node, row)?;
        tx.execute(
            &insert,
            &[
                &c.0, &c.1, &c.2, &c.3, &c.4, &c.5, &c.6, &c.7, &c.8, &c.9, &c.10,
            ],
        )
        .await?;
    }
    Ok(())
}

pub async fn load(
    tx: &Tx<'_>,
    zone_id: &str,
    since: i64,
    until: i64,
) -> Result<Vec<(String, MinuteRow)>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM analytics_minutes WHERE zone_id = $1 AND minute >= $2 AND minute < $3"
    );
    tx.query(&sql, &[&zone_id, &since, &until])
        .await?
        .iter()
        .map(|r| {
            from_columns((
                r.get(0),
                r.get(1),
                r.get(2),
                r.get(3),
                r.get(4),
                r.get(5),
                r.get(6),
                r.get(7),
                r.get(8),
                r.get(9),
                r.get(10),
            ))
        })
        .collect()
}
