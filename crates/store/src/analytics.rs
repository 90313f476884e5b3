//! Analytics minutes as table rows, shared by both backends: one row per (zone, minute, node,
//! app, event, colo, IP version), the duration sketch as JSON.

use crate::{Result, StoreError};
use model::analytics::{Aggregate, EventKind, MinuteRow, SeriesKey};

/// The columns, in the order of `Columns`.
pub(crate) const COLUMNS: &str = "zone_id, minute, node, app_id, event, colo, ip_version, \
     count, bytes_ingress, bytes_egress, durations";

/// The primary key's columns (the conflict target of a save).
pub(crate) const KEY: &str = "zone_id, minute, node, app_id, event, colo, ip_version";

/// One row as the backends bind and read it.
pub(crate) type Columns = (
    String,
    i64,
    String,
    String,
    String,
    String,
    i32,
    i64,
    i64,
    i64,
    String,
);

pub(crate) fn to_columns(node: &str, row: &MinuteRow) -> Result<Columns> {
    let a = &row.aggregate;
    Ok((
        row.key.zone_id.clone(),
        row.minute,
        node.to_owned(),
        row.key.app_id.clone(),
        row.key.event.as_str().to_owned(),
        row.key.colo.clone(),
        i32::from(row.key.ip_version),
        a.count as i64,
        a.bytes_ingress as i64,
        a.bytes_egress as i64,
        // An empty sketch's minimum and maximum are infinite, which JSON cannot hold.
        if a.durations.count() == 0 {
            String::new()
        } else {
            serde_json::to_string(&a.durations)
                .map_err(|e| StoreError::Corrupt(format!("a duration sketch: {e}")))?
        },
    ))
}

pub(crate) fn from_columns(c: Columns) -> Result<(String, MinuteRow)> {
    let event = EventKind::parse(&c.4)
        .ok_or_else(|| StoreError::Corrupt(format!("an analytics event `{}`", c.4)))?;
    let durations = if c.10.is_empty() {
        Default::default()
    } else {
        serde_json::from_str(&c.10)
            .map_err(|e| StoreError::Corrupt(format!("a duration sketch: {e}")))?
    };
    Ok((
        c.2,
        MinuteRow {
            minute: c.1,
            key: SeriesKey {
                zone_id: c.0,
                app_id: c.3,
                event,
                colo: c.5,
                ip_version: c.6 as u8,
            },
            aggregate: Aggregate {
                count: c.7 as u64,
                bytes_ingress: c.8 as u64,
                bytes_egress: c.9 as u64,
                durations,
            },
        },
    ))
}
