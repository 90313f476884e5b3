//! What the data plane records: the kinds of events, the series they are counted in (app,
//! event, colo, IP version) and a series' per-minute aggregate (count, bytes each way, a
//! duration sketch).

use serde::{Deserialize, Serialize};
use sketches_ddsketch::DDSketch;
use std::fmt;

/// A Spectrum event, as the analytics API's `event` dimension names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum EventKind {
    /// A client connection (or UDP flow) was admitted.
    #[serde(rename = "connect")]
    Connect,
    /// A connection or flow still open after another minute.
    #[serde(rename = "progress")]
    Progress,
    /// A connection or flow ended after reaching an origin.
    #[serde(rename = "disconnect")]
    Disconnect,
    /// No origin could be reached for a connection or flow.
    #[serde(rename = "originError")]
    OriginError,
    /// A zone IP Access Rule refused the client.
    #[serde(rename = "clientFiltered")]
    ClientFiltered,
}

impl EventKind {
    pub const ALL: [EventKind; 5] = [
        EventKind::Connect,
        EventKind::Progress,
        EventKind::Disconnect,
        EventKind::OriginError,
        EventKind::ClientFiltered,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Connect => "connect",
            EventKind::Progress => "progress",
            EventKind::Disconnect => "disconnect",
            EventKind::OriginError => "originError",
            EventKind::ClientFiltered => "clientFiltered",
        }
    }

    pub fn parse(s: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|e| e.as_str() == s)
    }

    /// Whether the event ends a connection, so that its duration is the connection's.
    pub fn ends_connection(self) -> bool {
        matches!(self, EventKind::Disconnect | EventKind::OriginError)
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One series: the events of one kind of one app, seen at one colo from one IP version.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SeriesKey {
    pub zone_id: String,
    pub app_id: String,
    pub event: EventKind,
    pub colo: String,
    /// The client's IP version: 4 or 6 (an IPv4-mapped IPv6 client counts as 4).
    pub ip_version: u8,
}

/// One event as the data plane reports it. Bytes are those carried since the connection's
/// previous event (so the events of a connection add up to its traffic); the duration, for
/// the events that end a connection, is its whole life.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Sample {
    /// Bytes from the client into the edge (UDP: payload bytes).
    pub bytes_ingress: u64,
    /// Bytes from the edge back to the client (UDP: payload bytes).
    pub bytes_egress: u64,
    /// Milliseconds, for `disconnect` and `originError`.
    pub duration_ms: Option<f64>,
}

/// A series' events within one minute.
#[derive(Clone, Default, Serialize, Deserialize)]
pub struct Aggregate {
    pub count: u64,
    pub bytes_ingress: u64,
    pub bytes_egress: u64,
    /// The durations of the events that end connections (relative accuracy 1 %; its sum and
    /// count are exact).
    pub durations: DDSketch,
}

impl fmt::Debug for Aggregate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Aggregate")
            .field("count", &self.count)
            .field("bytes_ingress", &self.bytes_ingress)
            .field("bytes_egress", &self.bytes_egress)
            .field("durations", &self.durations.count())
            .finish()
    }
}

impl Aggregate {
    pub fn add(&mut self, sample: &Sample) {
        self.count += 1;
        self.bytes_ingress += sample.bytes_ingress;
        self.bytes_egress += sample.bytes_egress;
        if let Some(ms) = sample.duration_ms {
            self.durations.add(ms.max(0.0));
        }
    }

    pub fn merge(&mut self, other: &Aggregate) {
        self.count += other.count;
        self.bytes_ingress += other.bytes_ingress;
        self.bytes_egress += other.bytes_egress;
        // Every sketch here has the default configuration, so merging cannot fail.
        let _ = self.durations.merge(&other.durations);
    }

    /// The mean duration in milliseconds (0 without any).
    pub fn duration_avg(&self) -> f64 {
        match self.durations.count() {
            0 => 0.0,
            n => self.durations.sum().unwrap_or(0.0) / n as f64,
        }
    }

    /// The duration at quantile `q` (0 without any): the value of rank ⌊q·(n−1)⌋ within 1 %.
    pub fn duration_quantile(&self, q: f64) -> f64 {
        self.durations.quantile(q).ok().flatten().unwrap_or(0.0)
    }
}

/// One series' aggregate of one minute (`minute`: unix seconds of its start), as stored.
#[derive(Debug, Clone)]
pub struct MinuteRow {
    pub minute: i64,
    pub key: SeriesKey,
    pub aggregate: Aggregate,
}

/// The start (unix seconds) of the minute holding `unix_seconds`.
pub fn minute_of(unix_seconds: i64) -> i64 {
    unix_seconds.div_euclid(60) * 60
}
