//! How a TCP connection (plain, TLS or HTTP) is reported: its analytics events (connect,
//! progress, then disconnect or originError; or clientFiltered) and its connection log line,
//! in Cloudflare's Spectrum event fields.

use crate::runtime::context::{AppShared, Settings};
use crate::telemetry::access_log::{log_time, ConnectionEvent};
use crate::telemetry::analytics::PROGRESS_EVERY;
use crate::telemetry::counted::ByteCounts;
use crate::telemetry::outcome::Outcome;
use chrono::{DateTime, Utc};
use model::analytics::{EventKind, Sample};
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::ops::Deref;
use std::time::Instant;

/// A connection's analytics events: the bytes each way it has reported so far, so that each
/// event carries the bytes since the previous one. Inert when analytics are off.
pub(crate) struct Events<A: Deref<Target = AppShared>> {
    app: A,
    client: IpAddr,
    started: Option<Instant>,
    reported: (u64, u64),
    /// Connected and not yet ended: a drop (the connection cut by a drain) ends it.
    open: bool,
}

impl<A: Deref<Target = AppShared>> Events<A> {
    /// `app`: a reference, or an `Arc` for a connection that owns its state.
    pub fn new(app: A, client: IpAddr) -> Events<A> {
        Events {
            started: app.node.analytics.as_ref().map(|_| Instant::now()),
            app,
            client,
            reported: (0, 0),
            open: false,
        }
    }

    fn record(&self, event: EventKind, sample: Sample, status: u16) {
        if let Some(analytics) = &self.app.node.analytics {
            analytics.record(&self.app.analytics_ref, event, self.client, sample, status);
        }
    }

    /// How often the connection reports its progress: each minute with analytics on, never
    /// without.
    pub fn progress_every(&self) -> Option<std::time::Duration> {
        self.started.map(|_| PROGRESS_EVERY)
    }

    /// The client was admitted.
    pub fn connect(&mut self) {
        self.open = true;
        self.record(EventKind::Connect, Sample::default(), 0);
    }

    /// Another minute open, with `up` bytes from the client and `down` to it so far.
    pub fn progress(&mut self, up: u64, down: u64) {
        if self.started.is_some() {
            let sample = self.since_reported(up, down, None);
            self.record(EventKind::Progress, sample, 0);
        }
    }

    fn since_reported(&mut self, up: u64, down: u64, duration_ms: Option<f64>) -> Sample {
        let sample = Sample {
            bytes_ingress: up.saturating_sub(self.reported.0),
            bytes_egress: down.saturating_sub(self.reported.1),
            duration_ms,
        };
        self.reported = (up.max(self.reported.0), down.max(self.reported.1));
        sample
    }

    /// The connection ended as `outcome` says (its event, and its bytes each way in all).
    pub fn end(mut self, outcome: &Outcome) {
        self.open = false;
        let Some(started) = self.started else {
            return;
        };
        let (event, status, _, up, down) = *outcome;
        let event = EventKind::parse(event).unwrap_or(EventKind::Disconnect);
        let duration =
            (event != EventKind::ClientFiltered).then(|| started.elapsed().as_secs_f64() * 1000.0);
        let sample = self.since_reported(up, down, duration);
        self.record(event, sample, status);
    }
}

impl<A: Deref<Target = AppShared>> Drop for Events<A> {
    /// A connection cut before its end (a removed app's drain timeout, the node stopping)
    /// still ends: its duration is known, the bytes since its last report are not.
    fn drop(&mut self) {
        if let (true, Some(started)) = (self.open, self.started) {
            let sample = Sample {
                duration_ms: Some(started.elapsed().as_secs_f64() * 1000.0),
                ..Sample::default()
            };
            self.record(EventKind::Disconnect, sample, 0);
        }
    }
}

/// Runs `work`, reporting the connection's progress from `counts` each minute meanwhile (with
/// analytics on; without, no timer at all).
pub(crate) async fn with_progress<F: Future>(
    work: F,
    counts: &ByteCounts,
    events: &mut Events<&AppShared>,
) -> F::Output {
    let Some(every) = events.progress_every() else {
        return work.await;
    };
    tokio::pin!(work);
    let mut minute = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        tokio::select! {
            out = &mut work => return out,
            _ = minute.tick() => {
                let (up, down) = counts.get();
                events.progress(up, down);
            }
        }
    }
}

/// Writes the connection log line of a TCP connection, when the log is on.
pub(crate) fn log(
    app: &AppShared,
    settings: &Settings,
    peer: SocketAddr,
    connected_at: DateTime<Utc>,
    outcome: Outcome,
) {
    let Some(log) = &app.node.access_log else {
        return;
    };
    let (event, status, origin, client_bytes, origin_bytes) = outcome;
    let now = Utc::now();
    log.write(&ConnectionEvent {
        timestamp: log_time(now),
        event,
        application: app.id.clone(),
        colo_code: app.node.options.colo.clone(),
        client_ip: peer.ip(),
        client_port: peer.port(),
        client_proto: "tcp",
        client_bytes,
        origin_ip: origin.map(|o| o.ip()),
        origin_port: origin.map(|o| o.port()),
        origin_proto: "tcp",
        origin_bytes,
        client_packets: None,
        origin_packets: None,
        connect_timestamp: log_time(connected_at),
        disconnect_timestamp: log_time(now),
        ip_protocol: 6,
        proxy_protocol: settings.app.config.proxy_protocol.as_str(),
        status,
    });
}
