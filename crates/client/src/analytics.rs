//! Spectrum analytics: `GET /zones/{zone_id}/spectrum/analytics/aggregate/current`,
//! `.../events/summary` and `.../events/bytime`, with arrays sent as repeated keys (as the
//! official SDKs send them).

use crate::{Client, Error};
use reqwest::Method;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// One app's traffic over the last minute, and its connections open now.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CurrentApp {
    #[serde(rename = "appID")]
    pub app_id: String,
    #[serde(rename = "bytesIngress")]
    pub bytes_ingress: f64,
    #[serde(rename = "bytesEgress")]
    pub bytes_egress: f64,
    pub connections: f64,
    #[serde(rename = "durationAvg")]
    pub duration_avg: f64,
}

/// An events query, as the API reads it (model's `Params`): empty fields are left to the
/// server's defaults (`count`, no dimensions, the last 6 hours).
pub use model::analytics::Params as EventsQuery;

/// One row of a result: its dimension values and its metrics (for `bytime`, each metric is a
/// series aligned with `time_intervals`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Row {
    #[serde(default)]
    pub dimensions: Vec<String>,
    #[serde(default)]
    pub metrics: Vec<Value>,
}

/// An events result.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Report {
    pub rows: f64,
    pub data: Vec<Row>,
    pub data_lag: f64,
    pub min: BTreeMap<String, f64>,
    pub max: BTreeMap<String, f64>,
    pub totals: BTreeMap<String, f64>,
    /// The query as the server read it.
    pub query: Value,
    #[serde(default)]
    pub time_intervals: Option<Vec<[String; 2]>>,
}

/// The analytics endpoints.
#[derive(Debug, Clone, Copy)]
pub struct Analytics<'a> {
    pub(crate) client: &'a Client,
}

/// The query as key-value pairs, arrays as repeated keys (as the official SDKs send them).
fn pairs(query: &EventsQuery) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    out.extend(query.metrics.iter().map(|m| ("metrics", m.clone())));
    out.extend(query.dimensions.iter().map(|d| ("dimensions", d.clone())));
    out.extend(query.sort.iter().map(|s| ("sort", s.clone())));
    let one = [
        ("filters", &query.filters),
        ("since", &query.since),
        ("until", &query.until),
        ("limit", &query.limit),
        ("time_delta", &query.time_delta),
    ];
    out.extend(
        one.into_iter()
            .filter_map(|(k, v)| v.clone().map(|v| (k, v))),
    );
    out
}

impl Analytics<'_> {
    /// Each app's traffic over the last minute (all apps with traffic, or those of `app_ids`),
    /// at `colo` if given.
    pub async fn current(
        &self,
        zone_id: &str,
        app_ids: &[String],
        colo: Option<&str>,
    ) -> Result<Vec<CurrentApp>, Error> {
        let mut query = Vec::new();
        if !app_ids.is_empty() {
            query.push(("appID", app_ids.join(",")));
        }
        if let Some(colo) = colo {
            query.push(("colo_name", colo.to_owned()));
        }
        let path = format!("/zones/{zone_id}/spectrum/analytics/aggregate/current");
        let envelope = self.client.send(Method::GET, &path, &query, None).await?;
        serde_json::from_value(envelope.result)
            .map_err(|e| Error::InvalidResponse(format!("current analytics: {e}")))
    }

    /// Events over the whole range, one row per combination of the dimensions.
    pub async fn summary(&self, zone_id: &str, query: &EventsQuery) -> Result<Report, Error> {
        self.events(zone_id, "summary", pairs(query)).await
    }

    /// Events per time bucket of `time_delta` (`minute`, `dekaminute`, `hour`, `day`, `week`,
    /// `month`, `quarter`, `year`).
    pub async fn bytime(
        &self,
        zone_id: &str,
        query: &EventsQuery,
        time_delta: &str,
    ) -> Result<Report, Error> {
        let query = EventsQuery {
            time_delta: Some(time_delta.to_owned()),
            ..query.clone()
        };
        self.events(zone_id, "bytime", pairs(&query)).await
    }

    async fn events(
        &self,
        zone_id: &str,
        kind: &str,
        pairs: Vec<(&'static str, String)>,
    ) -> Result<Report, Error> {
        let path = format!("/zones/{zone_id}/spectrum/analytics/events/{kind}");
        let envelope = self.client.send(Method::GET, &path, &pairs, None).await?;
        serde_json::from_value(envelope.result)
            .map_err(|e| Error::InvalidResponse(format!("analytics {kind}: {e}")))
    }
}
