//! Spectrum analytics without I/O: the events the data plane records, their per-minute
//! aggregates, the minutes a node holds in memory, and the analytics API's queries (fields,
//! filters, validation) and how they are answered.

mod event;
mod fields;
mod filter;
mod minutes;
mod query;
mod report;

pub use event::{minute_of, Aggregate, EventKind, MinuteRow, Sample, SeriesKey};
pub use fields::{Dimension, Metric};
pub use filter::{Comparison, Filter, Op};
pub use minutes::Minutes;
pub use query::{Params, Query, SortField, TimeDelta, MAX_LIMIT};
pub use report::{bucket_start, report, MAX_BUCKETS};

use std::collections::BTreeMap;

/// What the node that answers the API knows that the store does not hold yet: the minutes in
/// its memory, and the connections open on it now. Implemented by the data plane.
pub trait LiveAnalytics: Send + Sync {
    /// This node's minutes of `zone_id` held in memory overlapping `[since, until)` (unix
    /// seconds), and every minute start it holds (the store's copies of those are older).
    fn recent(&self, zone_id: &str, since: i64, until: i64) -> (Vec<MinuteRow>, Vec<i64>);
    /// Connections and flows open on this node now, by app, for one zone.
    fn open_connections(&self, zone_id: &str) -> BTreeMap<String, u64>;
    /// This node's colo code.
    fn colo(&self) -> &str;
}
