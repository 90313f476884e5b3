//! Analytics in `serve`: its settings (retention, on or off), and the task that writes the
//! data plane's minutes to the store every 5 s and once more at the stop, and deletes the
//! minutes older than the retention.

use super::args::ServeArgs;
use std::sync::Arc;
use std::time::Duration;
use store::Store;
use tokio_util::sync::CancellationToken;

/// How often the minutes in memory are written to the store.
const WRITE_EVERY: Duration = Duration::from_secs(5);
/// How often minutes older than the retention are deleted.
const PRUNE_EVERY: Duration = Duration::from_secs(600);

#[derive(Debug)]
pub struct AnalyticsSettings {
    pub enabled: bool,
    pub retention: Duration,
    /// `--metrics-listen`.
    pub metrics_listen: Option<std::net::SocketAddr>,
}

pub(super) fn analytics_settings(args: &ServeArgs) -> anyhow::Result<AnalyticsSettings> {
    let retention = match &args.analytics_retention {
        None => Duration::from_secs(30 * 86_400),
        Some(text) => duration_with_unit(text).ok_or_else(|| {
            anyhow::anyhow!(
                "--analytics-retention {text:?}: a whole number with a unit, s, m, h or d (30d, 12h)"
            )
        })?,
    };
    Ok(AnalyticsSettings {
        enabled: !args.no_analytics,
        retention,
        metrics_listen: args.metrics_listen,
    })
}

/// `30d`, `12h`, `90m`, `3600s`: at least one second (`--analytics-retention`, and
/// `spectra analytics --since`).
pub(crate) fn duration_with_unit(text: &str) -> Option<Duration> {
    let text = text.trim();
    let (number, unit) = text.split_at(text.len().checked_sub(1)?);
    let n: u64 = number.parse().ok()?;
    let unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    };
    let seconds = n.checked_mul(unit)?;
    (seconds > 0).then(|| Duration::from_secs(seconds))
}

/// Writes what changed to the store; on failure keeps it for the next try. True when written.
async fn write(
    store: &Arc<dyn Store>,
    analytics: &Arc<proxy::Analytics>,
    node: &str,
    metrics: &api::ApiMetrics,
) -> bool {
    let rows = analytics.take_changed();
    if rows.is_empty() {
        analytics.forget_written();
        return true;
    }
    let (s, node, batch) = (store.clone(), node.to_owned(), rows);
    let started = std::time::Instant::now();
    let (result, rows) = tokio::task::spawn_blocking(move || {
        let result = s.save_analytics(&node, &batch);
        (result, batch)
    })
    .await
    .unwrap_or_else(|e| {
        (
            Err(store::StoreError::Unavailable(e.to_string())),
            Vec::new(),
        )
    });
    metrics.store_write("analytics", started.elapsed().as_secs_f64());
    match result {
        Ok(()) => {
            analytics.forget_written();
            true
        }
        Err(error) => {
            tracing::warn!(%error, rows = rows.len(), "cannot write analytics; kept for the next try");
            analytics.restore(&rows);
            false
        }
    }
}

/// Deletes the minutes older than `retention`.
async fn prune(store: &Arc<dyn Store>, retention: Duration) {
    let before = chrono::Utc::now().timestamp() - retention.as_secs() as i64;
    let s = store.clone();
    match tokio::task::spawn_blocking(move || s.prune_analytics(before)).await {
        Ok(Ok(0)) => {}
        Ok(Ok(rows)) => tracing::info!(rows, "analytics older than the retention deleted"),
        Ok(Err(error)) => tracing::warn!(%error, "cannot delete old analytics"),
        Err(error) => tracing::warn!(%error, "cannot delete old analytics"),
    }
}

/// The name this process writes its minutes under: the node's name and when it started, so
/// that a restarted node adds to the minutes its earlier run wrote instead of replacing them.
pub fn writer_name(node: &str) -> String {
    format!("{node}@{}", chrono::Utc::now().timestamp_micros())
}

/// Writes every 5 s (with analytics on) and prunes every 10 minutes (and at the start) until
/// `shutdown`.
pub async fn run(
    store: Arc<dyn Store>,
    analytics: Option<Arc<proxy::Analytics>>,
    writer: String,
    retention: Duration,
    metrics: api::ApiMetrics,
    shutdown: CancellationToken,
) {
    let mut writes = tokio::time::interval(WRITE_EVERY);
    let mut prunes = tokio::time::interval(PRUNE_EVERY);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = writes.tick() => if let Some(analytics) = &analytics {
                write(&store, analytics, &writer, &metrics).await;
            },
            _ = prunes.tick() => prune(&store, retention).await,
        }
    }
}

/// The last write, once the data plane has stopped (every connection's last event is in).
pub async fn write_last(
    store: &Arc<dyn Store>,
    analytics: &Arc<proxy::Analytics>,
    node: &str,
    metrics: &api::ApiMetrics,
) {
    for _ in 0..3 {
        if write(store, analytics, node, metrics).await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tracing::error!("analytics of the last seconds could not be written");
}
