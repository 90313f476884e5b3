//! Zones and apps in SQLite, with the revision log (`revision` columns and tombstones) behind `changes_since`.

use super::{bump_revision, certificates, current_revision, new_id, optional, rules};
use crate::rows::{addresses_text, config_json, now, to_app, to_zone, AppRow, ZoneRow};
use crate::{AppPage, Result, StoreError};
use model::{App, AppConfig, AppListQuery, Changes, Snapshot, Zone};
use rusqlite::{params, Row, Transaction};
use std::net::IpAddr;
use std::sync::Arc;

const ZONE_COLUMNS: &str = "id, name, created_on, modified_on";
const APP_COLUMNS: &str = "id, zone_id, created_on, modified_on, config, edge_addresses";

fn zone_from_row(row: &Row) -> rusqlite::Result<ZoneRow> {
    row.try_into()
}

fn app_from_row(row: &Row) -> rusqlite::Result<AppRow> {
    row.try_into()
}

fn query_zones(tx: &Transaction, filter: &str, args: impl rusqlite::Params) -> Result<Vec<Zone>> {
    let sql = format!("SELECT {ZONE_COLUMNS} FROM zones {filter}");
    let rows: Vec<_> = tx
        .prepare(&sql)?
        .query_map(args, zone_from_row)?
        .collect::<rusqlite::Result<_>>()?;
    rows.into_iter().map(to_zone).collect()
}

fn query_apps(tx: &Transaction, filter: &str, args: impl rusqlite::Params) -> Result<Vec<App>> {
    let sql = format!("SELECT {APP_COLUMNS} FROM apps {filter}");
    let rows: Vec<_> = tx
        .prepare(&sql)?
        .query_map(args, app_from_row)?
        .collect::<rusqlite::Result<_>>()?;
    rows.into_iter().map(to_app).collect()
}

fn tombstones(tx: &Transaction, kind: &str, since: u64) -> Result<Vec<String>> {
    let ids = tx
        .prepare("SELECT id FROM tombstones WHERE kind = ?1 AND revision > ?2 ORDER BY id")?
        .query_map(params![kind, since], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(ids)
}

fn bury(tx: &Transaction, kind: &str, id: &str, revision: u64) -> Result<()> {
    tx.execute(
        "INSERT OR REPLACE INTO tombstones (kind, id, revision) VALUES (?1, ?2, ?3)",
        params![kind, id, revision],
    )?;
    Ok(())
}

pub fn snapshot(tx: &Transaction) -> Result<Snapshot> {
    let zones = query_zones(tx, "", [])?;
    let apps = query_apps(tx, "", [])?;
    Ok(Snapshot {
        revision: current_revision(tx)?,
        zones: zones.into_iter().map(|z| (z.id.clone(), z)).collect(),
        apps: apps
            .into_iter()
            .map(|a| (a.id.clone(), Arc::new(a)))
            .collect(),
        access_rules: rules::all(tx)?
            .into_iter()
            .map(|(zone, list)| (zone, Arc::new(list)))
            .collect(),
        certificates: certificates::all(tx)?
            .into_iter()
            .map(|(zone, list)| (zone, Arc::new(list)))
            .collect(),
    })
}

pub fn changes_since(tx: &Transaction, since: u64) -> Result<Changes> {
    Ok(Changes {
        revision: current_revision(tx)?,
        zones: query_zones(tx, "WHERE revision > ?1", [since])?,
        removed_zones: tombstones(tx, "zone", since)?,
        apps: query_apps(tx, "WHERE revision > ?1", [since])?,
        removed_apps: tombstones(tx, "app", since)?,
        access_rules: rules::changed_since(tx, since)?,
        certificates: certificates::changed_since(tx, since)?,
    })
}

pub fn zone_where(tx: &Transaction, column: &str, value: &str) -> Result<Option<Zone>> {
    debug_assert!(matches!(column, "id" | "name"));
    Ok(query_zones(tx, &format!("WHERE {column} = ?1"), [value])?.pop())
}

pub fn list_zones(tx: &Transaction) -> Result<Vec<Zone>> {
    query_zones(tx, "ORDER BY name, id", [])
}

pub fn create_zone(tx: &Transaction, name: &str) -> Result<Zone> {
    if zone_where(tx, "name", name)?.is_some() {
        return Err(StoreError::Conflict(format!("zone {name} already exists")));
    }
    let revision = bump_revision(tx)?;
    let t = now();
    let zone = Zone {
        id: new_id(),
        name: name.to_owned(),
        created_on: t,
        modified_on: t,
    };
    let stamp = model::timestamp(t);
    tx.execute(
        "INSERT INTO zones (id, name, created_on, modified_on, revision) VALUES (?1, ?2, ?3, ?3, ?4)",
        params![zone.id, zone.name, stamp, revision],
    )?;
    Ok(zone)
}

pub fn delete_zone(tx: &Transaction, id: &str) -> Result<bool> {
    if zone_where(tx, "id", id)?.is_none() {
        return Ok(false);
    }
    let revision = bump_revision(tx)?;
    let app_ids: Vec<String> = tx
        .prepare("SELECT id FROM apps WHERE zone_id = ?1")?
        .query_map([id], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for app_id in &app_ids {
        bury(tx, "app", app_id, revision)?;
    }
    tx.execute("DELETE FROM apps WHERE zone_id = ?1", [id])?;
    rules::delete_zone(tx, id)?;
    certificates::delete_zone(tx, id)?;
    tx.execute("DELETE FROM zones WHERE id = ?1", [id])?;
    bury(tx, "zone", id, revision)?;
    Ok(true)
}

pub fn app(tx: &Transaction, zone_id: &str, app_id: &str) -> Result<Option<App>> {
    Ok(query_apps(tx, "WHERE zone_id = ?1 AND id = ?2", [zone_id, app_id])?.pop())
}

pub fn list_apps(tx: &Transaction, zone_id: &str, query: &AppListQuery) -> Result<AppPage> {
    let (column, direction) = crate::rows::order_by(query);
    let apps = query_apps(
        tx,
        &format!(
            "WHERE zone_id = ?1 ORDER BY {column} {direction}, id {direction} LIMIT ?2 OFFSET ?3"
        ),
        params![zone_id, query.per_page, query.offset()],
    )?;
    let total_count = tx.query_row(
        "SELECT COUNT(*) FROM apps WHERE zone_id = ?1",
        [zone_id],
        |r| r.get(0),
    )?;
    Ok(AppPage { apps, total_count })
}

pub fn create_app(
    tx: &Transaction,
    zone_id: &str,
    config: &AppConfig,
    edge_addresses: &[IpAddr],
) -> Result<App> {
    if zone_where(tx, "id", zone_id)?.is_none() {
        return Err(StoreError::NotFound("zone"));
    }
    let revision = bump_revision(tx)?;
    let app = App::new(
        new_id(),
        zone_id.to_owned(),
        now(),
        config.clone(),
        edge_addresses.to_vec(),
    );
    tx.execute(
        "INSERT INTO apps (id, zone_id, protocol, dns_name, created_on, modified_on, config, revision, edge_addresses)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6, ?7, ?8)",
        params![
            app.id,
            zone_id,
            config.protocol.as_str(),
            config.dns.name.to_ascii_lowercase(),
            model::timestamp(app.created_on),
            config_json(config)?,
            revision,
            addresses_text(edge_addresses)
        ],
    )?;
    Ok(app)
}

pub fn update_app(
    tx: &Transaction,
    zone_id: &str,
    app_id: &str,
    config: &AppConfig,
    edge_addresses: &[IpAddr],
) -> Result<App> {
    let mut app = app(tx, zone_id, app_id)?.ok_or(StoreError::NotFound("app"))?;
    let revision = bump_revision(tx)?;
    app.modified_on = now().max(app.modified_on);
    app.config = config.clone();
    app.edge_addresses = edge_addresses.to_vec();
    tx.execute(
        "UPDATE apps SET protocol = ?1, dns_name = ?2, modified_on = ?3, config = ?4, revision = ?5,
         edge_addresses = ?6 WHERE id = ?7",
        params![
            config.protocol.as_str(),
            config.dns.name.to_ascii_lowercase(),
            model::timestamp(app.modified_on),
            config_json(config)?,
            revision,
            addresses_text(edge_addresses),
            app_id
        ],
    )?;
    Ok(app)
}

pub fn delete_app(tx: &Transaction, zone_id: &str, app_id: &str) -> Result<bool> {
    if optional(tx.query_row(
        "SELECT id FROM apps WHERE zone_id = ?1 AND id = ?2",
        [zone_id, app_id],
        |r| r.get::<_, String>(0),
    ))?
    .is_none()
    {
        return Ok(false);
    }
    let revision = bump_revision(tx)?;
    tx.execute("DELETE FROM apps WHERE id = ?1", [app_id])?;
    bury(tx, "app", app_id, revision)?;
    Ok(true)
}
