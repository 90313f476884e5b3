//! Handlers of `/zones/{zone_id}/spectrum/apps` and `/zones/{zone_id}/spectrum/protocols`.

use crate::auth::Caller;
use crate::envelope::{ok, ok_list, unknown_app, unknown_zone, ApiError, ApiResult, ResultInfo};
use crate::extract::{identifier, JsonBody, Query};
use crate::ApiState;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use model::{
    App, AppConfig, AppListQuery, AppOrder, Direction, Permission, Zone, DEFAULT_PER_PAGE,
    MAX_PER_PAGE, NAMED_PROTOCOLS,
};
use serde_json::json;
use std::net::IpAddr;

pub(crate) fn path<T>(path: Result<Path<T>, PathRejection>) -> Result<T, ApiError> {
    path.map(|Path(p)| p)
        .map_err(|e| ApiError::not_found(7003, format!("Could not route to the URI: {e}")))
}

/// The zone, once the caller may use `permission` on it.
pub(crate) async fn zone_for(
    state: &ApiState,
    caller: &Caller,
    zone_id: &str,
    permission: Permission,
) -> Result<Zone, ApiError> {
    identifier(zone_id, "zone")?;
    caller.require(permission, Some(zone_id))?;
    let id = zone_id.to_owned();
    state
        .store(move |s| s.zone(&id))
        .await?
        .ok_or_else(unknown_zone)
}

pub(crate) fn list_query(query: &Query) -> Result<AppListQuery, ApiError> {
    let defaults = AppListQuery::default();
    Ok(AppListQuery {
        order: match query.get("order") {
            Some(o) => AppOrder::parse_field(o, "order")?,
            None => defaults.order,
        },
        direction: match query.get("direction") {
            Some(d) => Direction::parse_field(d, "direction")?,
            None => defaults.direction,
        },
        page: query.number("page")?.unwrap_or(1),
        // Larger pages are cut to the maximum; result_info.per_page says so.
        per_page: query
            .number("per_page")?
            .unwrap_or(DEFAULT_PER_PAGE)
            .min(MAX_PER_PAGE),
    })
}

pub async fn list(
    State(state): State<ApiState>,
    caller: Caller,
    zone_id: Result<Path<String>, PathRejection>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let zone = zone_for(
        &state,
        &caller,
        &path(zone_id)?,
        Permission::ZoneSettingsRead,
    )
    .await?;
    let query = list_query(&Query::parse(raw.as_deref())?)?;
    let page = state.store(move |s| s.list_apps(&zone.id, &query)).await?;
    let info = ResultInfo::new(
        query.page,
        query.per_page,
        page.apps.len(),
        page.total_count,
    );
    Ok(ok_list(page.apps, info))
}

/// The app at `ids`, once the caller may read its zone.
async fn readable_app(
    state: &ApiState,
    caller: &Caller,
    ids: Result<Path<(String, String)>, PathRejection>,
) -> Result<App, ApiError> {
    let (zone_id, app_id) = path(ids)?;
    let zone = zone_for(state, caller, &zone_id, Permission::ZoneSettingsRead).await?;
    identifier(&app_id, "app")?;
    let app = state.store(move |s| s.app(&zone.id, &app_id)).await?;
    app.ok_or_else(unknown_app)
}

pub async fn get(
    State(state): State<ApiState>,
    caller: Caller,
    ids: Result<Path<(String, String)>, PathRejection>,
) -> ApiResult {
    Ok(ok(readable_app(&state, &caller, ids).await?))
}

pub async fn create(
    State(state): State<ApiState>,
    caller: Caller,
    zone_id: Result<Path<String>, PathRejection>,
    body: Result<JsonBody, ApiError>,
) -> ApiResult {
    let zone = zone_for(
        &state,
        &caller,
        &path(zone_id)?,
        Permission::ZoneSettingsWrite,
    )
    .await?;
    let config = AppConfig::from_json(body?.0)?;
    let _writing = state.app_writes.lock().await;
    config.check_in_zone(&zone, None, &state.policy)?;
    let edge = crate::placement::edge_addresses(&state, &config, None).await?;
    let app = state
        .store_write(move |s| s.create_app(&zone.id, &config, &edge))
        .await?;
    state.committed.notify_one();
    tracing::info!(app = %app.id, zone = %app.zone_id, protocol = %app.config.protocol.as_str(), by = %caller, "app created");
    Ok(ok(app))
}

pub async fn update(
    State(state): State<ApiState>,
    caller: Caller,
    ids: Result<Path<(String, String)>, PathRejection>,
    body: Result<JsonBody, ApiError>,
) -> ApiResult {
    let (zone_id, app_id) = path(ids)?;
    let zone = zone_for(&state, &caller, &zone_id, Permission::ZoneSettingsWrite).await?;
    identifier(&app_id, "app")?;
    let config = AppConfig::from_json(body?.0)?;
    let _writing = state.app_writes.lock().await;
    let (zone_id, id) = (zone.id.clone(), app_id.clone());
    let previous = state
        .store(move |s| s.app(&zone_id, &id))
        .await?
        .ok_or_else(unknown_app)?;
    config.check_in_zone(&zone, Some(&previous), &state.policy)?;
    let edge = crate::placement::edge_addresses(&state, &config, Some(&previous)).await?;
    let app = state
        .store_write(move |s| s.update_app(&zone.id, &app_id, &config, &edge))
        .await?;
    state.committed.notify_one();
    tracing::info!(app = %app.id, zone = %app.zone_id, by = %caller, "app updated");
    Ok(ok(app))
}

pub async fn delete(
    State(state): State<ApiState>,
    caller: Caller,
    ids: Result<Path<(String, String)>, PathRejection>,
) -> ApiResult {
    let (zone_id, app_id) = path(ids)?;
    let zone = zone_for(&state, &caller, &zone_id, Permission::ZoneSettingsWrite).await?;
    identifier(&app_id, "app")?;
    let _writing = state.app_writes.lock().await;
    let id = app_id.clone();
    if !state
        .store_write(move |s| s.delete_app(&zone.id, &id))
        .await?
    {
        return Err(unknown_app());
    }
    state.committed.notify_one();
    tracing::info!(app = %app_id, zone = %zone_id, by = %caller, "app deleted");
    Ok(ok(json!({ "id": app_id })))
}

/// `GET .../apps/{app_id}/status` (a Spectra extension): where the app listens, and how each
/// listener is doing.
pub async fn status(
    State(state): State<ApiState>,
    caller: Caller,
    ids: Result<Path<(String, String)>, PathRejection>,
) -> ApiResult {
    let app = readable_app(&state, &caller, ids).await?;
    let nodes = state.store(|s| s.nodes()).await?;
    let listeners = state.status.listeners(&app.id);
    // This node's addresses: another node's app listens here on this node's own.
    let mut edge_ips: Vec<IpAddr> = listeners.iter().map(|l| l.address.ip()).collect();
    edge_ips.dedup();
    if edge_ips.is_empty() {
        edge_ips = app.edge_addresses.clone();
    }
    let published = state.publication.borrow().apps.get(&app.id).cloned();
    let mut status = json!({
        "edge_ips": edge_ips,
        "listeners": listeners,
        "dns": {"name": app.config.dns.name, "published": published.unwrap_or_default()},
        "nodes": crate::nodes::of_app(&nodes, &app.id, chrono::Utc::now()),
    });
    let update = state.dns_update.borrow().clone();
    if let Some(server) = update.server {
        status["dns"]["update"] = json!({"server": server, "error": update.error});
    }
    if app.config.ip_firewall && !state.policy.geolocation {
        // Rules stored while the node had a database, or before this check: say they do nothing.
        let zone = app.zone_id.clone();
        let rules = state.store(move |s| s.access_rules(&zone)).await?;
        let idle: Vec<&str> = rules
            .iter()
            .filter(|r| r.fields.check_on_node(&state.policy).is_err())
            .map(|r| r.id.as_str())
            .collect();
        if !idle.is_empty() {
            status["unmatched_access_rules"] = json!(idle);
        }
    }
    Ok(ok(status))
}

pub async fn protocols(
    State(state): State<ApiState>,
    caller: Caller,
    zone_id: Result<Path<String>, PathRejection>,
) -> ApiResult {
    zone_for(
        &state,
        &caller,
        &path(zone_id)?,
        Permission::ZoneSettingsRead,
    )
    .await?;
    Ok(ok(NAMED_PROTOCOLS))
}
