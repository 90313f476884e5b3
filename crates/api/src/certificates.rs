//! Handlers of `/zones/{zone_id}/custom_certificates`: certificates a zone uploads for its TLS
//! apps. The private key goes in and is never shown or logged.

use crate::apps::{path, zone_for};
use crate::auth::Caller;
use crate::envelope::{ok, ok_page, ApiError, ApiResult};
use crate::extract::{identifier, JsonBody, Query};
use crate::ApiState;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use model::{codes, CertificateFields, Permission, Zone};
use serde_json::json;

/// Certificates per page unless `per_page` says otherwise, and the most it may ask for.
const DEFAULT_PER_PAGE: u32 = 20;
const MAX_PER_PAGE: u32 = 1000;

fn unknown_certificate() -> ApiError {
    ApiError::not_found(
        1401,
        "Invalid custom certificate identifier: no such certificate in this zone",
    )
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
        Permission::SslCertificatesRead,
    )
    .await?;
    let query = Query::parse(raw.as_deref())?;
    let (page, per_page) = query.paging(DEFAULT_PER_PAGE, MAX_PER_PAGE)?;
    let status = match query.get("status") {
        None => None,
        Some(s @ ("active" | "expired" | "deleted" | "pending" | "initializing")) => {
            Some(s.to_owned())
        }
        Some(other) => {
            return Err(ApiError::bad_request(
                codes::INVALID_FIELD,
                format!("status: \"{other}\" is not one of \"active\", \"expired\", \"deleted\", \"pending\", \"initializing\""),
            ))
        }
    };
    let certificates = state.store(move |s| s.certificates(&zone.id)).await?;
    let shown: Vec<serde_json::Value> = certificates
        .iter()
        .map(|c| serde_json::to_value(c).unwrap_or_default())
        .filter(|c| status.as_deref().is_none_or(|s| c["status"] == s))
        .collect();
    Ok(ok_page(shown, page, per_page))
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
        Permission::SslCertificatesWrite,
    )
    .await?;
    let fields = CertificateFields::from_json(&body?.0, &zone.name, chrono::Utc::now())?;
    let certificate = state
        .store_write(move |s| s.create_certificate(&zone.id, &fields))
        .await?;
    state.committed.notify_one();
    tracing::info!(certificate = %certificate.id, zone = %certificate.zone_id, hosts = ?certificate.fields.inspected.hosts, by = %caller, "custom certificate uploaded");
    Ok(ok(certificate))
}

/// The zone and certificate id of `ids`, once the caller may use `permission` on the zone.
async fn certificate_ids(
    state: &ApiState,
    caller: &Caller,
    ids: Result<Path<(String, String)>, PathRejection>,
    permission: Permission,
) -> Result<(Zone, String), ApiError> {
    let (zone_id, id) = path(ids)?;
    let zone = zone_for(state, caller, &zone_id, permission).await?;
    identifier(&id, "custom certificate")?;
    Ok((zone, id))
}

pub async fn get_one(
    State(state): State<ApiState>,
    caller: Caller,
    ids: Result<Path<(String, String)>, PathRejection>,
) -> ApiResult {
    let (zone, id) = certificate_ids(&state, &caller, ids, Permission::SslCertificatesRead).await?;
    let certificate = state.store(move |s| s.certificate(&zone.id, &id)).await?;
    Ok(ok(certificate.ok_or_else(unknown_certificate)?))
}

pub async fn edit(
    State(state): State<ApiState>,
    caller: Caller,
    ids: Result<Path<(String, String)>, PathRejection>,
    body: Result<JsonBody, ApiError>,
) -> ApiResult {
    let (zone, id) =
        certificate_ids(&state, &caller, ids, Permission::SslCertificatesWrite).await?;
    let body = body?.0;
    let (z, i) = (zone.id.clone(), id.clone());
    let current = state
        .store(move |s| s.certificate(&z, &i))
        .await?
        .ok_or_else(unknown_certificate)?;
    let fields = current
        .fields
        .patched(&body, &zone.name, chrono::Utc::now())?;
    let certificate = state
        .store_write(move |s| s.update_certificate(&zone.id, &id, &fields))
        .await?
        .ok_or_else(unknown_certificate)?;
    state.committed.notify_one();
    tracing::info!(certificate = %certificate.id, zone = %certificate.zone_id, hosts = ?certificate.fields.inspected.hosts, by = %caller, "custom certificate updated");
    Ok(ok(certificate))
}

pub async fn delete(
    State(state): State<ApiState>,
    caller: Caller,
    ids: Result<Path<(String, String)>, PathRejection>,
) -> ApiResult {
    let (zone, id) =
        certificate_ids(&state, &caller, ids, Permission::SslCertificatesWrite).await?;
    let i = id.clone();
    if !state
        .store_write(move |s| s.delete_certificate(&zone.id, &i))
        .await?
    {
        return Err(unknown_certificate());
    }
    state.committed.notify_one();
    tracing::info!(certificate = %id, by = %caller, "custom certificate deleted");
    Ok(ok(json!({ "id": id })))
}
