//! The data plane's Prometheus metrics, read at each scrape from what it already keeps: each
//! app's analytics totals, the listener board and the drop counters. Nothing is counted twice
//! on the hot path for them.

use super::analytics::Analytics;
use super::counters::Counters;
use super::status::StatusBoard;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use std::fmt;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

/// The data plane's metrics, registered with the binary's registry.
#[derive(Clone)]
pub struct DataPlaneMetrics {
    pub(crate) status: Arc<StatusBoard>,
    pub(crate) counters: Arc<Counters>,
    pub(crate) analytics: Option<Arc<Analytics>>,
}

impl fmt::Debug for DataPlaneMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataPlaneMetrics")
    }
}

type Labels = Vec<(&'static str, String)>;

/// One metric family: its samples, each with its labels.
fn family(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    kind: MetricType,
    samples: Vec<(Labels, u64)>,
) -> fmt::Result {
    let mut metric = encoder.encode_descriptor(name, help, None, kind)?;
    for (labels, value) in samples {
        if labels.is_empty() {
            sample(&mut metric, kind, value)?;
        } else {
            sample(&mut metric.encode_family(&labels)?, kind, value)?;
        }
    }
    Ok(())
}

fn sample(metric: &mut MetricEncoder, kind: MetricType, value: u64) -> fmt::Result {
    match kind {
        MetricType::Counter => metric.encode_counter::<NoLabelSet, _, u64>(&value, None),
        _ => metric.encode_gauge(&(value as i64)),
    }
}

impl Collector for DataPlaneMetrics {
    fn encode(&self, mut e: DescriptorEncoder) -> fmt::Result {
        let totals = self
            .analytics
            .as_ref()
            .map(|a| a.totals())
            .unwrap_or_default();
        // Per-app series: of TCP apps (`Some(false)`), UDP apps (`Some(true)`) or all (`None`).
        let per_app = |udp: Option<bool>, value: &dyn Fn(&super::analytics::AppTotals) -> u64| {
            totals
                .iter()
                .filter(|(_, t)| udp.is_none_or(|udp| t.udp == udp))
                .map(|(app, t)| (vec![("app", app.clone())], value(t)))
                .collect::<Vec<_>>()
        };
        use MetricType::{Counter, Gauge};
        family(
            &mut e,
            "spectra_connections_open",
            "TCP connections open, per app",
            Gauge,
            per_app(Some(false), &|t| t.open),
        )?;
        family(
            &mut e,
            "spectra_connections",
            "TCP connections admitted, per app",
            Counter,
            per_app(Some(false), &|t| t.connections),
        )?;
        family(
            &mut e,
            "spectra_udp_flows_open",
            "UDP flows open, per app",
            Gauge,
            per_app(Some(true), &|t| t.open),
        )?;
        family(
            &mut e,
            "spectra_udp_flows",
            "UDP flows opened, per app",
            Counter,
            per_app(Some(true), &|t| t.connections),
        )?;
        family(
            &mut e,
            "spectra_ingress_bytes",
            "Bytes from clients into the edge (UDP: payload), per app, counted when a connection reports (each minute and at its end)",
            Counter,
            per_app(None, &|t| t.bytes_ingress),
        )?;
        family(
            &mut e,
            "spectra_egress_bytes",
            "Bytes from the edge back to clients (UDP: payload), per app, counted when a connection reports",
            Counter,
            per_app(None, &|t| t.bytes_egress),
        )?;
        let errors = totals
            .iter()
            .flat_map(|(app, t)| {
                t.origin_errors.iter().map(|(status, n)| {
                    (
                        vec![("app", app.clone()), ("status", status.to_string())],
                        *n,
                    )
                })
            })
            .collect();
        family(
            &mut e,
            "spectra_origin_errors",
            "Connections and flows that reached no origin, per app and event-log status",
            Counter,
            errors,
        )?;
        family(
            &mut e,
            "spectra_clients_filtered",
            "Connections (UDP: datagrams) refused by IP Access Rules, per app",
            Counter,
            per_app(None, &|t| t.filtered),
        )?;
        family(
            &mut e,
            "spectra_udp_flows_dropped",
            "Datagrams of new UDP flows dropped at the node's flow limit",
            Counter,
            vec![(vec![], self.counters.udp_flows_refused.load(Relaxed))],
        )?;
        family(
            &mut e,
            "spectra_analytics_events_dropped",
            "Analytics events dropped because the recorder fell behind",
            Counter,
            vec![(vec![], self.analytics.as_ref().map_or(0, |a| a.dropped()))],
        )?;
        let listeners = self
            .status
            .all()
            .into_iter()
            .flat_map(|(app, listeners)| {
                listeners.into_iter().map(move |l| {
                    let labels = vec![
                        ("app", app.clone()),
                        ("address", l.address.to_string()),
                        ("transport", l.transport.as_str().to_owned()),
                    ];
                    (labels, u64::from(l.error.is_none()))
                })
            })
            .collect();
        family(
            &mut e,
            "spectra_listener_up",
            "1 for a bound edge listener, 0 for one that could not bind",
            Gauge,
            listeners,
        )
    }
}
