//! What the data plane reports: how each connection ended (statuses, the failing side), the
//! connection log, listener states and drop counters.

pub mod access_log;
pub mod analytics;
pub mod counted;
pub mod counters;
pub mod metrics;
pub mod outcome;
pub mod status;
