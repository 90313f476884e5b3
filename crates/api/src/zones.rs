//! Handlers of `/zones` and `/user/tokens/verify`.

use crate::apps::{path, zone_for};
use crate::auth::{bearer, Caller};
use crate::envelope::{ok, ok_page, unknown_zone, ApiError, ApiResult};
use crate::extract::{JsonBody, Query};
use crate::ApiState;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use model::{codes, normalize_zone_name, Permission, DEFAULT_PER_PAGE};
use serde_json::{json, Value};

/// Cloudflare's zone list pages hold at most 50 zones.
const MAX_ZONES_PER_PAGE: u32 = 50;

pub async fn list(
    State(state): State<ApiState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let query = Query::parse(raw.as_deref())?;
    let (page, per_page) = query.paging(DEFAULT_PER_PAGE, MAX_ZONES_PER_PAGE)?;
    let name = query.get("name").map(str::to_ascii_lowercase);
    let zones: Vec<_> = state
        .store(|s| s.list_zones())
        .await?
        .into_iter()
        .filter(|z| caller.sees_zone(&z.id) && name.as_ref().is_none_or(|n| &z.name == n))
        .collect();
    Ok(ok_page(zones, page, per_page))
}

/// `POST /zones {"name": "example.com"}`. `account`, `type: "full"` and `jump_start` are accepted
/// for compatibility; a single node has one account and no DNS records to scan.
pub async fn create(
    State(state): State<ApiState>,
    caller: Caller,
    body: Result<JsonBody, ApiError>,
) -> ApiResult {
    caller.require(Permission::ZoneWrite, None)?;
    let Value::Object(body) = body?.0 else {
        return Err(ApiError::bad_request(
            codes::INVALID_FIELD,
            "the request body must be a JSON object",
        ));
    };
    for (key, value) in &body {
        match (key.as_str(), value) {
            ("name", Value::String(_))
            | ("account", Value::Object(_))
            | ("jump_start", Value::Bool(_)) => {}
            ("type", Value::String(t)) if t == "full" => {}
            ("type", _) => {
                return Err(ApiError::bad_request(
                    codes::INVALID_FIELD,
                    "type: Spectra zones are \"full\" zones",
                ))
            }
            ("name" | "account" | "jump_start", v) => {
                return Err(ApiError::bad_request(
                    codes::INVALID_FIELD,
                    format!("{key}: wrong type ({v})"),
                ))
            }
            _ => {
                return Err(ApiError::bad_request(
                    codes::UNKNOWN_FIELD,
                    format!("json: unknown field \"{key}\""),
                ))
            }
        }
    }
    let name = body.get("name").and_then(Value::as_str).ok_or_else(|| {
        ApiError::bad_request(codes::INVALID_FIELD, "name: required, the zone's domain")
    })?;
    let name = normalize_zone_name(name)?;
    let zone = state.store_write(move |s| s.create_zone(&name)).await?;
    state.committed.notify_one();
    tracing::info!(zone = %zone.id, name = %zone.name, by = %caller, "zone created");
    Ok(ok(zone))
}

pub async fn get(
    State(state): State<ApiState>,
    caller: Caller,
    zone_id: Result<Path<String>, PathRejection>,
) -> ApiResult {
    let zone_id = path(zone_id)?;
    crate::extract::identifier(&zone_id, "zone")?;
    if !caller.sees_zone(&zone_id) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            10000,
            format!("Authentication error: this API token does not cover zone {zone_id}"),
        ));
    }
    let zone = state.store(move |s| s.zone(&zone_id)).await?;
    Ok(ok(zone.ok_or_else(unknown_zone)?))
}

pub async fn delete(
    State(state): State<ApiState>,
    caller: Caller,
    zone_id: Result<Path<String>, PathRejection>,
) -> ApiResult {
    let zone = zone_for(&state, &caller, &path(zone_id)?, Permission::ZoneWrite).await?;
    let _writing = state.app_writes.lock().await;
    let id = zone.id.clone();
    if !state.store_write(move |s| s.delete_zone(&id)).await? {
        return Err(unknown_zone());
    }
    state.committed.notify_one();
    tracing::info!(zone = %zone.id, name = %zone.name, by = %caller, "zone deleted with its apps");
    Ok(ok(json!({ "id": zone.id })))
}

/// `GET /user/tokens/verify`: whether the bearer token is valid.
pub async fn verify_token(State(state): State<ApiState>, headers: HeaderMap) -> ApiResult {
    let secret = bearer(&headers)?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                9106,
                "Missing Authorization header: send Bearer <token>",
            )
        })?
        .to_owned();
    let token = state.store(move |s| s.token_by_secret(&secret)).await?;
    match token {
        Some(token) if !token.revoked => Ok(ok(json!({
            "id": token.id,
            "status": "active",
            "message": "This API Token is valid and active",
        }))),
        _ => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            1000,
            "Invalid API Token",
        )),
    }
}
