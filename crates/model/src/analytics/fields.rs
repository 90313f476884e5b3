//! The analytics API's field names: its dimensions (what rows are grouped and filtered by)
//! and its metrics (what is computed per row).

use super::event::{Aggregate, SeriesKey};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dimension {
    Event,
    AppId,
    ColoName,
    IpVersion,
}

impl Dimension {
    pub const ALL: [Dimension; 4] = [
        Dimension::Event,
        Dimension::AppId,
        Dimension::ColoName,
        Dimension::IpVersion,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Dimension::Event => "event",
            Dimension::AppId => "appID",
            Dimension::ColoName => "coloName",
            Dimension::IpVersion => "ipVersion",
        }
    }

    pub fn parse(s: &str) -> Option<Dimension> {
        Dimension::ALL.into_iter().find(|d| d.as_str() == s)
    }

    /// The series' value of this dimension, as the API writes it.
    pub fn value(self, key: &SeriesKey) -> String {
        match self {
            Dimension::Event => key.event.as_str().to_owned(),
            Dimension::AppId => key.app_id.clone(),
            Dimension::ColoName => key.colo.clone(),
            Dimension::IpVersion => key.ip_version.to_string(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Metric {
    Count,
    BytesIngress,
    BytesEgress,
    DurationAvg,
    DurationMedian,
    Duration90th,
    Duration99th,
}

impl Metric {
    pub const ALL: [Metric; 7] = [
        Metric::Count,
        Metric::BytesIngress,
        Metric::BytesEgress,
        Metric::DurationAvg,
        Metric::DurationMedian,
        Metric::Duration90th,
        Metric::Duration99th,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Metric::Count => "count",
            Metric::BytesIngress => "bytesIngress",
            Metric::BytesEgress => "bytesEgress",
            Metric::DurationAvg => "durationAvg",
            Metric::DurationMedian => "durationMedian",
            Metric::Duration90th => "duration90th",
            Metric::Duration99th => "duration99th",
        }
    }

    pub fn parse(s: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// The metric of an aggregate (durations in milliseconds).
    pub fn of(self, a: &Aggregate) -> f64 {
        match self {
            Metric::Count => a.count as f64,
            Metric::BytesIngress => a.bytes_ingress as f64,
            Metric::BytesEgress => a.bytes_egress as f64,
            Metric::DurationAvg => a.duration_avg(),
            Metric::DurationMedian => a.duration_quantile(0.5),
            Metric::Duration90th => a.duration_quantile(0.9),
            Metric::Duration99th => a.duration_quantile(0.99),
        }
    }
}

/// Every name of `names` joined for an error message: `a, b or c`.
pub(crate) fn one_of(names: &[&str]) -> String {
    match names.split_last() {
        Some((last, [])) => (*last).to_owned(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}
