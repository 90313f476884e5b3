//! Zones and apps in PostgreSQL, with the revision log (`revision` columns and tombstones)
//! behind `changes_since`. Text sorts byte-wise (`COLLATE "C"`), as in SQLite.

use super::tables::{bump_revision, current_revision, rev, rules_all, rules_changed_since};
use super::Tx;
use crate::rows::{addresses_text, config_json, now, to_app, to_zone};
use crate::{secret, AppPage, Result, StoreError};
use model::{App, AppConfig, AppListQuery, Changes, Snapshot, Zone};
use std::net::IpAddr;
use std::sync::Arc;
use tokio_postgres::types::ToSql;

const ZONE_COLUMNS: &str = "id, name, created_on, modified_on";
const APP_COLUMNS: &str = "id, zone_id, created_on, modified_on, config, edge_addresses";

async fn query_zones(tx: &Tx<'_>, filter: &str, args: &[&(dyn ToSql + Sync)]) -> Result<Vec<Zone>> {
    let sql = format!("SELECT {ZONE_COLUMNS} FROM zones {filter}");
    tx.query(&sql, args)
        .await?
        .iter()
        .map(|r| to_zone((r.get(0), r.get(1), r.get(2), r.get(3))))
        .collect()
}

async fn query_apps(tx: &Tx<'_>, filter: &str, args: &[&(dyn ToSql + Sync)]) -> Result<Vec<App>> {
    let sql = format!("SELECT {APP_COLUMNS} FROM apps {filter}");
    tx.query(&sql, args)
        .await?
        .iter()
        .map(|r| to_app((r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5))))
        .collect()
}

async fn tombstones(tx: &Tx<'_>, kind: &str, since: u64) -> Result<Vec<String>> {
    let rows = tx
        .query(
            r#"SELECT id FROM tombstones WHERE kind = $1 AND revision > $2 ORDER BY id COLLATE "C""#,
            &[&kind, &rev(since)],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

async fn bury(tx: &Tx<'_>, kind: &str, id: &str, revision: i64) -> Result<()> {
    tx.execute(
        "INSERT INTO tombstones (kind, id, revision) VALUES ($1, $2, $3)
         ON CONFLICT (kind, id) DO UPDATE SET revision = EXCLUDED.revision",
        &[&kind, &id, &revision],
    )
    .await?;
    Ok(())
}

pub async fn snapshot(tx: &Tx<'_>) -> Result<Snapshot> {
    let zones = query_zones(tx, "", &[]).await?;
    let apps = query_apps(tx, "", &[]).await?;
    Ok(Snapshot {
        revision: current_revision(tx).await?,
        zones: zones.into_iter().map(|z| (z.id.clone(), z)).collect(),
        apps: apps
            .into_iter()
            .map(|a| (a.id.clone(), Arc::new(a)))
            .collect(),
        access_rules: rules_all(tx)
            .await?
            .into_iter()
            .map(|(zone, list)| (zone, Arc::new(list)))
            .collect(),
        certificates: super::certificates::all(tx)
            .await?
            .into_iter()
            .map(|(zone, list)| (zone, Arc::new(list)))
            .collect(),
    })
}

pub async fn changes_since(tx: &Tx<'_>, since: u64) -> Result<Changes> {
    let since_rev = rev(since);
    Ok(Changes {
        revision: current_revision(tx).await?,
        zones: query_zones(tx, "WHERE revision > $1", &[&since_rev]).await?,
        removed_zones: tombstones(tx, "zone", since).await?,
        apps: query_apps(tx, "WHERE revision > $1", &[&since_rev]).await?,
        removed_apps: tombstones(tx, "app", since).await?,
        access_rules: rules_changed_since(tx, since).await?,
        certificates: super::certificates::changed_since(tx, since).await?,
    })
}

pub async fn zone_where(tx: &Tx<'_>, column: &str, value: &str) -> Result<Option<Zone>> {
    debug_assert!(matches!(column, "id" | "name"));
    Ok(query_zones(tx, &format!("WHERE {column} = $1"), &[&value])
        .await?
        .pop())
}

pub async fn list_zones(tx: &Tx<'_>) -> Result<Vec<Zone>> {
    query_zones(tx, r#"ORDER BY name COLLATE "C", id COLLATE "C""#, &[]).await
}

pub async fn create_zone(tx: &Tx<'_>, name: &str) -> Result<Zone> {
    if zone_where(tx, "name", name).await?.is_some() {
        return Err(StoreError::Conflict(format!("zone {name} already exists")));
    }
    let revision = bump_revision(tx).await?;
    let t = now();
    let zone = Zone {
        id: secret::new_id(),
        name: name.to_owned(),
        created_on: t,
        modified_on: t,
    };
    let stamp = model::timestamp(t);
    tx.execute(
        "INSERT INTO zones (id, name, created_on, modified_on, revision) VALUES ($1, $2, $3, $3, $4)",
        &[&zone.id, &zone.name, &stamp, &revision],
    )
    .await?;
    Ok(zone)
}

pub async fn delete_zone(tx: &Tx<'_>, id: &str) -> Result<bool> {
    if zone_where(tx, "id", id).await?.is_none() {
        return Ok(false);
    }
    let revision = bump_revision(tx).await?;
    let app_ids: Vec<String> = tx
        .query("SELECT id FROM apps WHERE zone_id = $1", &[&id])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    for app_id in &app_ids {
        bury(tx, "app", app_id, revision).await?;
    }
    tx.execute("DELETE FROM apps WHERE zone_id = $1", &[&id])
        .await?;
    tx.execute("DELETE FROM access_rules WHERE zone_id = $1", &[&id])
        .await?;
    tx.execute("DELETE FROM access_rule_changes WHERE zone_id = $1", &[&id])
        .await?;
    super::certificates::delete_zone(tx, id).await?;
    tx.execute("DELETE FROM zones WHERE id = $1", &[&id])
        .await?;
    bury(tx, "zone", id, revision).await?;
    Ok(true)
}

pub async fn app(tx: &Tx<'_>, zone_id: &str, app_id: &str) -> Result<Option<App>> {
    Ok(
        query_apps(tx, "WHERE zone_id = $1 AND id = $2", &[&zone_id, &app_id])
            .await?
            .pop(),
    )
}

pub async fn list_apps(tx: &Tx<'_>, zone_id: &str, query: &AppListQuery) -> Result<AppPage> {
    let (column, direction) = crate::rows::order_by(query);
    let (limit, offset) = (i64::from(query.per_page), query.offset() as i64);
    let apps = query_apps(
        tx,
        &format!(
            r#"WHERE zone_id = $1 ORDER BY {column} COLLATE "C" {direction}, id COLLATE "C" {direction} LIMIT $2 OFFSET $3"#
        ),
        &[&zone_id, &limit, &offset],
    )
    .await?;
    let total: i64 = tx
        .query_one("SELECT COUNT(*) FROM apps WHERE zone_id = $1", &[&zone_id])
        .await?
        .get(0);
    Ok(AppPage {
        apps,
        total_count: total as u64,
    })
}

pub async fn create_app(
    tx: &Tx<'_>,
    zone_id: &str,
    config: &AppConfig,
    edge_addresses: &[IpAddr],
) -> Result<App> {
    if zone_where(tx, "id", zone_id).await?.is_none() {
        return Err(StoreError::NotFound("zone"));
    }
    let revision = bump_revision(tx).await?;
    let app = App::new(
        secret::new_id(),
        zone_id.to_owned(),
        now(),
        config.clone(),
        edge_addresses.to_vec(),
    );
    tx.execute(
        "INSERT INTO apps (id, zone_id, protocol, dns_name, created_on, modified_on, config, revision, edge_addresses)
         VALUES ($1, $2, $3, $4, $5, $5, $6, $7, $8)",
        &[
            &app.id,
            &zone_id,
            &config.protocol.as_str(),
            &config.dns.name.to_ascii_lowercase(),
            &model::timestamp(app.created_on),
            &config_json(config)?,
            &revision,
            &addresses_text(edge_addresses),
        ],
    )
    .await?;
    Ok(app)
}

pub async fn update_app(
    tx: &Tx<'_>,
    zone_id: &str,
    app_id: &str,
    config: &AppConfig,
    edge_addresses: &[IpAddr],
) -> Result<App> {
    let mut app = app(tx, zone_id, app_id)
        .await?
        .ok_or(StoreError::NotFound("app"))?;
    let revision = bump_revision(tx).await?;
    app.modified_on = now().max(app.modified_on);
    app.config = config.clone();
    app.edge_addresses = edge_addresses.to_vec();
    tx.execute(
        "UPDATE apps SET protocol = $1, dns_name = $2, modified_on = $3, config = $4, revision = $5,
         edge_addresses = $6 WHERE id = $7",
        &[
            &config.protocol.as_str(),
            &config.dns.name.to_ascii_lowercase(),
            &model::timestamp(app.modified_on),
            &config_json(config)?,
            &revision,
            &addresses_text(edge_addresses),
            &app_id,
        ],
    )
    .await?;
    Ok(app)
}

pub async fn delete_app(tx: &Tx<'_>, zone_id: &str, app_id: &str) -> Result<bool> {
    let deleted = tx
        .execute(
            "DELETE FROM apps WHERE zone_id = $1 AND id = $2",
            &[&zone_id, &app_id],
        )
        .await?;
    if deleted == 0 {
        return Ok(false);
    }
    let revision = bump_revision(tx).await?;
    bury(tx, "app", app_id, revision).await?;
    Ok(true)
}
