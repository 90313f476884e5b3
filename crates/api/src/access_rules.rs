//! Handlers of `/zones/{zone_id}/firewall/access_rules/rules`: the zone IP Access Rules that
//! apps with `ip_firewall` apply to new clients.

use crate::apps::{path, zone_for};
use crate::auth::Caller;
use crate::envelope::{ok, ok_page, ApiError, ApiResult};
use crate::extract::{identifier, JsonBody, Query};
use crate::ApiState;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use model::{codes, AccessRule, AccessRuleMode, Direction, Permission, RuleFields, RuleTarget};
use serde_json::json;

/// Rules per page unless `per_page` says otherwise, and the most it may ask for.
const DEFAULT_PER_PAGE: u32 = 20;
const MAX_PER_PAGE: u32 = 1000;

fn unknown_rule() -> ApiError {
    ApiError::not_found(
        10001,
        "Invalid access rule identifier: no such rule in this zone",
    )
}

/// A query value by its SDK spelling (`configuration.target`) or its bracket spelling.
fn get<'a>(query: &'a Query, dotted: &str) -> Option<&'a str> {
    query.get(dotted).or_else(|| {
        let (outer, inner) = dotted.split_once('.')?;
        query.get(&format!("{outer}[{inner}]"))
    })
}

/// Which rules a list asks for, and in what order.
pub(crate) fn select(
    mut rules: Vec<AccessRule>,
    query: &Query,
) -> Result<Vec<AccessRule>, ApiError> {
    let mode = get(query, "mode")
        .map(|m| AccessRuleMode::parse_field(m, "mode"))
        .transpose()?;
    let target = get(query, "configuration.target")
        .map(|t| RuleTarget::parse_field(t, "configuration.target"))
        .transpose()?;
    let value = get(query, "configuration.value");
    let notes = get(query, "notes").map(str::to_lowercase);
    let any = match get(query, "match").unwrap_or("all") {
        "all" => false,
        "any" => true,
        other => {
            return Err(ApiError::bad_request(
                codes::INVALID_FIELD,
                format!("match: \"{other}\" is not one of \"all\", \"any\""),
            ))
        }
    };
    rules.retain(|rule| {
        let f = &rule.fields;
        let tests = [
            mode.map(|m| f.mode == m),
            target.map(|t| f.target == t),
            value.map(|v| f.value.eq_ignore_ascii_case(v.trim())),
            notes.as_ref().map(|n| f.notes.to_lowercase().contains(n)),
        ];
        let mut asked = tests.iter().flatten().peekable();
        asked.peek().is_none()
            || if any {
                asked.any(|&t| t)
            } else {
                asked.all(|&t| t)
            }
    });
    match get(query, "order") {
        None => {}
        Some("configuration.target") => rules.sort_by_key(|r| r.fields.target.as_str()),
        Some("configuration.value") => rules.sort_by(|a, b| a.fields.value.cmp(&b.fields.value)),
        Some("mode") => rules.sort_by_key(|r| r.fields.mode.as_str()),
        Some(other) => {
            return Err(ApiError::bad_request(
                codes::INVALID_FIELD,
                format!(
                    "order: \"{other}\" is not one of \"configuration.target\", \"configuration.value\", \"mode\""
                ),
            ))
        }
    }
    if let Some(direction) = get(query, "direction") {
        if Direction::parse_field(direction, "direction")? == Direction::Desc {
            rules.reverse();
        }
    }
    Ok(rules)
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
    let query = Query::parse(raw.as_deref())?;
    let (page, per_page) = query.paging(DEFAULT_PER_PAGE, MAX_PER_PAGE)?;
    let rules = state.store(move |s| s.access_rules(&zone.id)).await?;
    Ok(ok_page(select(rules, &query)?, page, per_page))
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
    let fields = RuleFields::from_json(&body?.0)?;
    fields.check_on_node(&state.policy)?;
    let rule = state
        .store_write(move |s| s.create_access_rule(&zone.id, &fields))
        .await?;
    state.committed.notify_one();
    tracing::info!(rule = %rule.id, zone = %rule.zone_id, mode = %rule.fields.mode, target = %rule.fields.target, value = %rule.fields.value, by = %caller, "access rule created");
    Ok(ok(rule))
}

/// The zone id and rule id of `ids`, once the caller may use `permission` on the zone.
async fn rule_ids(
    state: &ApiState,
    caller: &Caller,
    ids: Result<Path<(String, String)>, PathRejection>,
    permission: Permission,
) -> Result<(String, String), ApiError> {
    let (zone_id, rule_id) = path(ids)?;
    let zone = zone_for(state, caller, &zone_id, permission).await?;
    identifier(&rule_id, "access rule")?;
    Ok((zone.id, rule_id))
}

pub async fn get_one(
    State(state): State<ApiState>,
    caller: Caller,
    ids: Result<Path<(String, String)>, PathRejection>,
) -> ApiResult {
    let (zone, id) = rule_ids(&state, &caller, ids, Permission::ZoneSettingsRead).await?;
    let rule = state.store(move |s| s.access_rule(&zone, &id)).await?;
    Ok(ok(rule.ok_or_else(unknown_rule)?))
}

pub async fn edit(
    State(state): State<ApiState>,
    caller: Caller,
    ids: Result<Path<(String, String)>, PathRejection>,
    body: Result<JsonBody, ApiError>,
) -> ApiResult {
    let (zone, id) = rule_ids(&state, &caller, ids, Permission::ZoneSettingsWrite).await?;
    let body = body?.0;
    let (z, i) = (zone.clone(), id.clone());
    let current = state
        .store(move |s| s.access_rule(&z, &i))
        .await?
        .ok_or_else(unknown_rule)?;
    let fields = current.fields.patched(&body)?;
    if fields.target != current.fields.target || fields.mode != current.fields.mode {
        fields.check_on_node(&state.policy)?;
    }
    let rule = state
        .store_write(move |s| s.update_access_rule(&zone, &id, &fields))
        .await?
        .ok_or_else(unknown_rule)?;
    state.committed.notify_one();
    tracing::info!(rule = %rule.id, zone = %rule.zone_id, mode = %rule.fields.mode, by = %caller, "access rule updated");
    Ok(ok(rule))
}

pub async fn delete(
    State(state): State<ApiState>,
    caller: Caller,
    ids: Result<Path<(String, String)>, PathRejection>,
) -> ApiResult {
    let (zone, id) = rule_ids(&state, &caller, ids, Permission::ZoneSettingsWrite).await?;
    let i = id.clone();
    if !state
        .store_write(move |s| s.delete_access_rule(&zone, &i))
        .await?
    {
        return Err(unknown_rule());
    }
    state.committed.notify_one();
    tracing::info!(rule = %id, by = %caller, "access rule deleted");
    Ok(ok(json!({ "id": id })))
}
