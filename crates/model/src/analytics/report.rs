//! Runs a validated query over minute rows: groups them by the requested dimensions (and, for
//! `bytime`, by time bucket), computes the metrics, sorts, limits, and writes the result in the
//! shape of Cloudflare's analytics API (`rows`, `data`, `min`, `max`, `totals`, `query`, ...).

use super::event::{minute_of, Aggregate, MinuteRow};
use super::fields::Metric;
use super::query::{Query, SortField, TimeDelta};
use crate::error::{codes, Invalid};
use crate::timestamp;
use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Timelike, Utc};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// The most time buckets a `bytime` query may span.
pub const MAX_BUCKETS: usize = 10_080;

/// The start of the `delta` bucket holding `t` (weeks start on Monday; all in UTC).
pub fn bucket_start(delta: TimeDelta, t: DateTime<Utc>) -> DateTime<Utc> {
    let day = |y: i32, m: u32, d: u32| {
        Utc.from_utc_datetime(&NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default().into())
    };
    let minute = t
        .with_second(0)
        .and_then(|t| t.with_nanosecond(0))
        .unwrap_or(t);
    match delta {
        TimeDelta::Minute => minute,
        TimeDelta::Dekaminute => minute - Duration::minutes(i64::from(minute.minute() % 10)),
        TimeDelta::Hour => minute - Duration::minutes(i64::from(minute.minute())),
        TimeDelta::Day => day(t.year(), t.month(), t.day()),
        TimeDelta::Week => {
            day(t.year(), t.month(), t.day())
                - Duration::days(i64::from(t.weekday().num_days_from_monday()))
        }
        TimeDelta::Month => day(t.year(), t.month(), 1),
        TimeDelta::Quarter => day(t.year(), (t.month() - 1) / 3 * 3 + 1, 1),
        TimeDelta::Year => day(t.year(), 1, 1),
    }
}

/// The start of the bucket after the one starting at `start`.
fn bucket_end(delta: TimeDelta, start: DateTime<Utc>) -> DateTime<Utc> {
    let months = |n: u32| {
        let m = start.month0() + n;
        Utc.from_utc_datetime(
            &NaiveDate::from_ymd_opt(start.year() + (m / 12) as i32, m % 12 + 1, 1)
                .unwrap_or_default()
                .into(),
        )
    };
    match delta {
        TimeDelta::Minute => start + Duration::minutes(1),
        TimeDelta::Dekaminute => start + Duration::minutes(10),
        TimeDelta::Hour => start + Duration::hours(1),
        TimeDelta::Day => start + Duration::days(1),
        TimeDelta::Week => start + Duration::weeks(1),
        TimeDelta::Month => months(1),
        TimeDelta::Quarter => months(3),
        TimeDelta::Year => months(12),
    }
}

/// A time bucket, `[start, end)`.
type Interval = (DateTime<Utc>, DateTime<Utc>);

/// The buckets `[start, end)` from the one holding `since` to the one holding `until`.
fn buckets(q: &Query, delta: TimeDelta) -> Result<Vec<Interval>, Invalid> {
    let mut out = Vec::new();
    let mut start = bucket_start(delta, q.since);
    while start < q.until || out.is_empty() {
        if out.len() == MAX_BUCKETS {
            return Err(Invalid::new(
                codes::ANALYTICS_TIME,
                format!(
                    "since to until spans more than {MAX_BUCKETS} buckets of a {}; use a larger time_delta or a shorter range",
                    delta.as_str()
                ),
            ));
        }
        let end = bucket_end(delta, start);
        out.push((start, end));
        start = end;
    }
    Ok(out)
}

/// A number as JSON: whole numbers without a fraction.
fn number(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() < 9.0e15 {
        json!(x as i64)
    } else {
        json!(x)
    }
}

/// One result row: its dimension values, its aggregate over the range and per bucket.
struct Row {
    dimensions: Vec<String>,
    total: Aggregate,
    buckets: BTreeMap<usize, Aggregate>,
}

/// Runs `q` over `rows` (any minutes; those outside the range or the filter are skipped).
pub fn report(q: &Query, rows: &[MinuteRow]) -> Result<Value, Invalid> {
    let intervals = match q.time_delta {
        Some(delta) => buckets(q, delta)?,
        None => vec![(q.since, q.until)],
    };
    // A minute counts when it overlaps [since, until): its start before `until` (to the
    // nanosecond: a minute that began 0.8 s before `until` counts).
    let first = minute_of(q.since.timestamp());
    let until = q.until.timestamp() + i64::from(q.until.timestamp_subsec_nanos() > 0);
    let mut grouped: BTreeMap<Vec<String>, Row> = BTreeMap::new();
    let mut totals = Aggregate::default();
    for r in rows {
        if r.minute < first || r.minute >= until || !q.filter.matches(&r.key) {
            continue;
        }
        let dims: Vec<String> = q.dimensions.iter().map(|d| d.value(&r.key)).collect();
        let row = grouped.entry(dims.clone()).or_insert_with(|| Row {
            dimensions: dims,
            total: Aggregate::default(),
            buckets: BTreeMap::new(),
        });
        row.total.merge(&r.aggregate);
        totals.merge(&r.aggregate);
        if q.time_delta.is_some() {
            let at = DateTime::from_timestamp(r.minute, 0).unwrap_or_default();
            let i = intervals.partition_point(|(start, _)| *start <= at).max(1) - 1;
            row.buckets.entry(i).or_default().merge(&r.aggregate);
        }
    }
    let mut rows: Vec<Row> = grouped.into_values().collect();
    rows.sort_by(|a, b| {
        for (field, descending) in &q.sort {
            let ordering = match field {
                SortField::Metric(m) => m.of(&a.total).total_cmp(&m.of(&b.total)),
                SortField::Dimension(d) => {
                    let i = q.dimensions.iter().position(|x| x == d).unwrap_or(0);
                    a.dimensions[i].cmp(&b.dimensions[i])
                }
            };
            let ordering = if *descending {
                ordering.reverse()
            } else {
                ordering
            };
            if ordering.is_ne() {
                return ordering;
            }
        }
        std::cmp::Ordering::Equal
    });
    rows.truncate(q.limit);

    let (mut min, mut max) = (Map::new(), Map::new());
    let empty = Aggregate::default();
    let data: Vec<Value> = rows
        .iter()
        .map(|row| {
            let metrics: Vec<Value> = q
                .metrics
                .iter()
                .map(|m| {
                    let values: Vec<f64> = match q.time_delta {
                        None => vec![m.of(&row.total)],
                        Some(_) => (0..intervals.len())
                            .map(|i| m.of(row.buckets.get(&i).unwrap_or(&empty)))
                            .collect(),
                    };
                    for v in &values {
                        extreme(&mut min, m, *v, f64::min);
                        extreme(&mut max, m, *v, f64::max);
                    }
                    match q.time_delta {
                        None => number(values[0]),
                        Some(_) => Value::Array(values.into_iter().map(number).collect()),
                    }
                })
                .collect();
            json!({"dimensions": row.dimensions, "metrics": metrics})
        })
        .collect();
    let totals: Map<String, Value> = q
        .metrics
        .iter()
        .map(|m| (m.as_str().to_owned(), number(m.of(&totals))))
        .collect();
    let mut query = json!({
        "dimensions": q.dimensions.iter().map(|d| d.as_str()).collect::<Vec<_>>(),
        "filters": q.filters,
        "limit": q.limit,
        "metrics": q.metrics.iter().map(|m| m.as_str()).collect::<Vec<_>>(),
        "since": timestamp(q.since),
        "sort": q.sort_text,
        "until": timestamp(q.until),
    });
    if let Some(delta) = q.time_delta {
        query["time_delta"] = json!(delta.as_str());
    }
    Ok(json!({
        "rows": data.len(),
        "data": data,
        "data_lag": 0,
        "min": min,
        "max": max,
        "totals": totals,
        "query": query,
        "time_intervals": intervals
            .iter()
            .map(|(s, e)| [timestamp(*s), timestamp(*e)])
            .collect::<Vec<_>>(),
    }))
}

fn extreme(into: &mut Map<String, Value>, m: &Metric, v: f64, pick: fn(f64, f64) -> f64) {
    let now = into.get(m.as_str()).and_then(Value::as_f64);
    let v = now.map_or(v, |n| pick(n, v));
    into.insert(m.as_str().to_owned(), number(v));
}
