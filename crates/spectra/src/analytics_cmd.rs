//! `spectra analytics`: each app's traffic over a past period (connections, bytes each way,
//! duration percentiles), from the Spectrum analytics API.

use crate::app_cmd::Connection;
use client::EventsQuery;
use futures_util::TryStreamExt;
use serde_json::json;
use std::collections::BTreeMap;

#[derive(clap::Args)]
pub struct AnalyticsArgs {
    #[command(flatten)]
    connection: Connection,
    /// Only this app (its id).
    #[arg(long)]
    app: Option<String>,
    /// How far back: a whole number with a unit, s, m, h or d.
    #[arg(long, default_value = "1h")]
    since: String,
}

/// One app's line.
#[derive(Default)]
struct Line {
    connections: f64,
    ingress: f64,
    egress: f64,
    /// Median, 90th and 99th percentile of the durations, in milliseconds.
    durations: [f64; 3],
}

fn period(text: &str) -> anyhow::Result<chrono::Duration> {
    let duration = crate::serve::duration_with_unit(text).ok_or_else(|| {
        anyhow::anyhow!("--since {text:?}: a whole number with a unit, s, m, h or d (1h, 30m)")
    })?;
    Ok(chrono::Duration::from_std(duration)?)
}

pub fn run(args: AnalyticsArgs) -> anyhow::Result<()> {
    let since = chrono::Utc::now() - period(&args.since)?;
    tokio::runtime::Runtime::new()?.block_on(async move {
        let (client, zone) = args.connection.client().await?;
        let analytics = client.spectrum().analytics();
        let only = |clause: &str| match &args.app {
            Some(app) => format!("appID=={app};{clause}"),
            None => clause.to_owned(),
        };
        let since = Some(since.to_rfc3339());
        let traffic = analytics
            .summary(
                &zone,
                &EventsQuery {
                    metrics: ["count", "bytesIngress", "bytesEgress"]
                        .map(String::from)
                        .to_vec(),
                    dimensions: vec!["appID".into(), "event".into()],
                    filters: args.app.as_ref().map(|app| format!("appID=={app}")),
                    since: since.clone(),
                    ..EventsQuery::default()
                },
            )
            .await?;
        let ended = analytics
            .summary(
                &zone,
                &EventsQuery {
                    metrics: ["durationMedian", "duration90th", "duration99th"]
                        .map(String::from)
                        .to_vec(),
                    dimensions: vec!["appID".into()],
                    filters: Some(format!(
                        "{},{}",
                        only("event==disconnect"),
                        only("event==originError")
                    )),
                    since,
                    ..EventsQuery::default()
                },
            )
            .await?;
        let number = |v: &serde_json::Value| v.as_f64().unwrap_or(0.0);
        let mut lines: BTreeMap<String, Line> = BTreeMap::new();
        for row in &traffic.data {
            let (app, event) = (row.dimensions[0].clone(), row.dimensions[1].as_str());
            let line = lines.entry(app).or_default();
            if event == "connect" {
                line.connections += number(&row.metrics[0]);
            }
            line.ingress += number(&row.metrics[1]);
            line.egress += number(&row.metrics[2]);
        }
        for row in &ended.data {
            let line = lines.entry(row.dimensions[0].clone()).or_default();
            for (i, m) in row.metrics.iter().take(3).enumerate() {
                line.durations[i] = number(m);
            }
        }
        let names: BTreeMap<String, String> = client
            .spectrum()
            .apps()
            .list(&zone, Default::default())
            .try_collect::<Vec<_>>()
            .await?
            .into_iter()
            .map(|app| (app.id.clone(), app.config.dns.name.clone()))
            .collect();
        if args.connection.output_json {
            let rows: Vec<_> = lines
                .iter()
                .map(|(app, l)| {
                    json!({
                        "appID": app, "hostname": names.get(app), "connections": l.connections,
                        "bytesIngress": l.ingress, "bytesEgress": l.egress,
                        "durationMedian": l.durations[0], "duration90th": l.durations[1],
                        "duration99th": l.durations[2],
                    })
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&rows)?);
            return Ok(());
        }
        println!(
            "{:<32}  {:<28}  {:>11}  {:>12}  {:>12}  {:>9}  {:>9}  {:>9}",
            "APP", "HOSTNAME", "CONNECTIONS", "BYTES IN", "BYTES OUT", "P50 ms", "P90 ms", "P99 ms"
        );
        for (app, l) in &lines {
            let name = names.get(app).map_or("(deleted)", String::as_str);
            println!(
                "{app:<32}  {name:<28}  {:>11}  {:>12}  {:>12}  {:>9.1}  {:>9.1}  {:>9.1}",
                l.connections, l.ingress, l.egress, l.durations[0], l.durations[1], l.durations[2]
            );
        }
        Ok(())
    })
}
