//! `GET /zones/{zone_id}/dns_records`: the address records Spectra publishes for the zone's app
//! hostnames, as Cloudflare's DNS record objects (read-only: they follow the apps).

use crate::apps::{path, zone_for};
use crate::auth::Caller;
use crate::envelope::{ok_page, ApiError, ApiResult};
use crate::extract::Query;
use crate::ApiState;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use model::{codes, Permission, Publication};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::net::IpAddr;

/// A record's id: stable for as long as it is published (its zone, name and address).
fn record_id(zone_id: &str, name: &str, ip: &IpAddr) -> String {
    let digest = Sha256::digest(format!("{zone_id}/{name}/{ip}"));
    hex::encode(&digest[..16])
}

/// The zone's published records, by name, then type (A before AAAA), then address.
pub fn records(publication: &Publication, zone_id: &str) -> Vec<Value> {
    let Some(zone) = publication.zones.get(zone_id) else {
        return Vec::new();
    };
    let when = model::timestamp(publication.changed_on.unwrap_or_else(chrono::Utc::now));
    let mut out = Vec::new();
    for (name, addresses) in &zone.hosts {
        let (v4, v6): (Vec<&IpAddr>, Vec<&IpAddr>) = addresses.iter().partition(|ip| ip.is_ipv4());
        for ip in v4.into_iter().chain(v6) {
            out.push(json!({
                "id": record_id(zone_id, name, ip),
                "zone_id": zone_id,
                "zone_name": zone.name,
                "name": name,
                "type": if ip.is_ipv4() { "A" } else { "AAAA" },
                "content": ip.to_string(),
                "ttl": publication.ttl,
                "proxied": false,
                "proxiable": false,
                "comment": "published by Spectra for this hostname's apps",
                "tags": [],
                "settings": {},
                "meta": {},
                "created_on": when,
                "modified_on": when,
            }));
        }
    }
    out
}

/// The list, filtered by `type` and `name` (exact, case-insensitive) as Cloudflare's is.
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
    let (page, per_page) = query.paging(100, 5_000)?;
    let kind = query.get("type").map(str::to_ascii_uppercase);
    let name = query
        .get("name")
        .or_else(|| query.get("name.exact"))
        .map(|n| n.trim_end_matches('.').to_ascii_lowercase());
    if name.as_deref().is_some_and(str::is_empty) {
        return Err(ApiError::bad_request(codes::INVALID_FIELD, "name: empty"));
    }
    let publication = state.publication.borrow().clone();
    let shown: Vec<Value> = records(&publication, &zone.id)
        .into_iter()
        .filter(|r| kind.as_deref().is_none_or(|k| r["type"] == k))
        .filter(|r| name.as_deref().is_none_or(|n| r["name"] == n))
        .collect();
    Ok(ok_page(shown, page, per_page))
}
