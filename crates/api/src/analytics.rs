//! Handlers of `/zones/{zone_id}/spectrum/analytics/...`: the current aggregate per app, and
//! event summaries and time series, answered from the store's minutes and those the node still
//! holds in memory.

use crate::apps::{path, zone_for};
use crate::auth::Caller;
use crate::envelope::{ok, ApiResult};
use crate::extract::Query;
use crate::ApiState;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use model::analytics::{minute_of, report, Aggregate, MinuteRow, Params};
use model::{Permission, Zone};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};

/// Every value of `key` (repeated keys, each possibly a comma list; `key[]` too).
fn list(query: &Query, key: &str) -> Vec<String> {
    let bracketed = format!("{key}[]");
    query
        .all(key)
        .chain(query.all(&bracketed))
        .flat_map(|v| v.split(','))
        .map(|v| v.trim_matches(|c| c == ' ' || c == '\n').to_owned())
        .filter(|v| !v.is_empty())
        .collect()
}

fn params(query: &Query) -> Params {
    let one = |key: &str| query.get(key).map(str::to_owned);
    Params {
        metrics: list(query, "metrics"),
        dimensions: list(query, "dimensions"),
        filters: one("filters"),
        // A sort field's `+` may arrive decoded as a space: kept, and read as `+`.
        sort: query
            .all("sort")
            .flat_map(|v| v.split(','))
            .filter(|v| !v.trim().is_empty())
            .map(str::to_owned)
            .collect(),
        since: one("since"),
        until: one("until"),
        time_delta: one("time_delta"),
        limit: one("limit"),
    }
}

/// The zone's minutes from `since` to `until` (unix seconds): the store's, with this node's
/// own taken from its memory where it still holds them (they are newer there).
async fn minutes(
    state: &ApiState,
    zone: &Zone,
    since: i64,
    until: i64,
) -> Result<Vec<MinuteRow>, crate::ApiError> {
    let (since, until) = (minute_of(since), until.max(since));
    let (mut rows, held) = match &state.analytics {
        Some((live, _)) => live.recent(&zone.id, since, until),
        None => (Vec::new(), Vec::new()),
    };
    let held: BTreeSet<i64> = held.into_iter().collect();
    let own = state.analytics.as_ref().map(|(_, node)| node.clone());
    let id = zone.id.clone();
    let stored = state.store(move |s| s.analytics(&id, since, until)).await?;
    rows.extend(
        stored
            .into_iter()
            .filter(|(node, row)| Some(node) != own.as_ref() || !held.contains(&row.minute))
            .map(|(_, row)| row),
    );
    Ok(rows)
}

async fn events(
    state: ApiState,
    caller: Caller,
    zone_id: Result<Path<String>, PathRejection>,
    raw: Option<String>,
    bytime: bool,
) -> ApiResult {
    let zone = zone_for(&state, &caller, &path(zone_id)?, Permission::AnalyticsRead).await?;
    let query = Query::parse(raw.as_deref())?;
    let q = model::analytics::Query::parse(&params(&query), bytime, chrono::Utc::now())?;
    let rows = minutes(&state, &zone, q.since.timestamp(), q.until.timestamp() + 1).await?;
    Ok(ok(report(&q, &rows)?))
}

pub async fn summary(
    State(state): State<ApiState>,
    caller: Caller,
    zone_id: Result<Path<String>, PathRejection>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    events(state, caller, zone_id, raw, false).await
}

pub async fn bytime(
    State(state): State<ApiState>,
    caller: Caller,
    zone_id: Result<Path<String>, PathRejection>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    events(state, caller, zone_id, raw, true).await
}

/// Per app over the current and the previous minute: bytes each way and the mean duration of
/// the connections that ended; `connections` is how many are open now on this node.
pub async fn current(
    State(state): State<ApiState>,
    caller: Caller,
    zone_id: Result<Path<String>, PathRejection>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let zone = zone_for(&state, &caller, &path(zone_id)?, Permission::AnalyticsRead).await?;
    let query = Query::parse(raw.as_deref())?;
    let wanted = list(&query, "appID");
    let colo = query.get("colo_name").map(str::to_owned);
    let now = chrono::Utc::now().timestamp();
    let rows = minutes(&state, &zone, minute_of(now) - 60, now + 1).await?;
    let mut per_app: BTreeMap<String, Aggregate> = wanted
        .iter()
        .map(|a| (a.clone(), Aggregate::default()))
        .collect();
    for row in rows {
        if colo.as_ref().is_some_and(|c| *c != row.key.colo)
            || (!wanted.is_empty() && !wanted.contains(&row.key.app_id))
        {
            continue;
        }
        per_app
            .entry(row.key.app_id.clone())
            .or_default()
            .merge(&row.aggregate);
    }
    let open = match &state.analytics {
        Some((live, _)) if colo.as_ref().is_none_or(|c| *c == live.colo()) => {
            live.open_connections(&zone.id)
        }
        _ => BTreeMap::new(),
    };
    for app in open.keys() {
        if wanted.is_empty() || wanted.contains(app) {
            per_app.entry(app.clone()).or_default();
        }
    }
    let result: Vec<serde_json::Value> = per_app
        .iter()
        .map(|(app, a)| {
            json!({
                "appID": app,
                "bytesIngress": a.bytes_ingress,
                "bytesEgress": a.bytes_egress,
                "connections": open.get(app).copied().unwrap_or(0),
                "durationAvg": a.duration_avg(),
            })
        })
        .collect();
    Ok(ok(result))
}
