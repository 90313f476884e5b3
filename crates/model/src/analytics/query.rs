//! An analytics query as the API receives it (every parameter a string or a list of them)
//! and as it is run: validated metrics, dimensions, filters, sort, time range and buckets.

use super::fields::{one_of, Dimension, Metric};
use super::filter::Filter;
use crate::error::{codes, Invalid};
use chrono::{DateTime, Duration, NaiveDateTime, Utc};

/// The most rows a query returns, and its default.
pub const MAX_LIMIT: usize = 10_000;

/// The query parameters, as sent (arrays already split from repeated keys or comma lists).
#[derive(Debug, Clone, Default)]
pub struct Params {
    pub metrics: Vec<String>,
    pub dimensions: Vec<String>,
    pub filters: Option<String>,
    pub sort: Vec<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    pub time_delta: Option<String>,
    pub limit: Option<String>,
}

/// A bytime query's bucket width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeDelta {
    Year,
    Quarter,
    Month,
    Week,
    Day,
    Hour,
    Dekaminute,
    Minute,
}

impl TimeDelta {
    pub const ALL: [TimeDelta; 8] = [
        TimeDelta::Year,
        TimeDelta::Quarter,
        TimeDelta::Month,
        TimeDelta::Week,
        TimeDelta::Day,
        TimeDelta::Hour,
        TimeDelta::Dekaminute,
        TimeDelta::Minute,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TimeDelta::Year => "year",
            TimeDelta::Quarter => "quarter",
            TimeDelta::Month => "month",
            TimeDelta::Week => "week",
            TimeDelta::Day => "day",
            TimeDelta::Hour => "hour",
            TimeDelta::Dekaminute => "dekaminute",
            TimeDelta::Minute => "minute",
        }
    }

    pub fn parse(s: &str) -> Option<TimeDelta> {
        TimeDelta::ALL.into_iter().find(|d| d.as_str() == s)
    }
}

/// A field to sort rows by, descending when `-` prefixed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortField {
    Metric(Metric),
    Dimension(Dimension),
}

/// A validated query.
#[derive(Debug, Clone)]
pub struct Query {
    pub metrics: Vec<Metric>,
    pub dimensions: Vec<Dimension>,
    pub filter: Filter,
    /// As sent, for the echo.
    pub filters: String,
    /// As sent, for the echo.
    pub sort_text: Vec<String>,
    pub sort: Vec<(SortField, bool)>,
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub time_delta: Option<TimeDelta>,
    pub limit: usize,
}

impl Query {
    /// Validates `params` at `now`; `bytime` requires a `time_delta`.
    pub fn parse(params: &Params, bytime: bool, now: DateTime<Utc>) -> Result<Query, Invalid> {
        let metrics = if params.metrics.is_empty() {
            vec![Metric::Count]
        } else {
            params
                .metrics
                .iter()
                .map(|m| {
                    Metric::parse(m).ok_or_else(|| {
                        let names: Vec<&str> = Metric::ALL.iter().map(|m| m.as_str()).collect();
                        Invalid::new(
                            codes::ANALYTICS_METRIC,
                            format!("unknown metric `{m}`; metrics are {}", one_of(&names)),
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()?
        };
        let dimensions = params
            .dimensions
            .iter()
            .map(|d| {
                Dimension::parse(d).ok_or_else(|| {
                    let names: Vec<&str> = Dimension::ALL.iter().map(|d| d.as_str()).collect();
                    Invalid::new(
                        codes::ANALYTICS_DIMENSION,
                        format!("unknown dimension `{d}`; dimensions are {}", one_of(&names)),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let filters = params.filters.clone().unwrap_or_default();
        let filter = Filter::parse(&filters)
            .map_err(|m| Invalid::new(codes::ANALYTICS_FILTER, format!("filters: {m}")))?;
        let sort = params
            .sort
            .iter()
            .map(|s| sort_field(s, &metrics, &dimensions))
            .collect::<Result<Vec<_>, _>>()?;
        let until = match &params.until {
            Some(t) => time("until", t)?,
            None => now,
        };
        let since = match &params.since {
            Some(t) => time("since", t)?,
            None => until - Duration::hours(6),
        };
        if since > until {
            return Err(Invalid::new(
                codes::ANALYTICS_TIME,
                format!("since ({since}) is after until ({until})"),
            ));
        }
        let time_delta = match (&params.time_delta, bytime) {
            (Some(d), _) => Some(TimeDelta::parse(d).ok_or_else(|| {
                let names: Vec<&str> = TimeDelta::ALL.iter().map(|d| d.as_str()).collect();
                Invalid::new(
                    codes::ANALYTICS_TIME_DELTA,
                    format!("unknown time_delta `{d}`; it is one of {}", one_of(&names)),
                )
            })?),
            (None, true) => {
                return Err(Invalid::new(
                    codes::ANALYTICS_TIME_DELTA,
                    "time_delta is required: year, quarter, month, week, day, hour, dekaminute or minute",
                ))
            }
            (None, false) => None,
        };
        let limit = match &params.limit {
            None => MAX_LIMIT,
            Some(text) => match text.trim().parse::<usize>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                _ => {
                    return Err(Invalid::new(
                        codes::ANALYTICS_LIMIT,
                        format!("limit `{text}` is not a whole number from 1 to {MAX_LIMIT}"),
                    ))
                }
            },
        };
        Ok(Query {
            metrics,
            dimensions,
            filter,
            filters,
            sort_text: params.sort.clone(),
            sort,
            since,
            until,
            time_delta,
            limit,
        })
    }
}

/// `+name` or `name` ascending, `-name` descending; a `+` decoded from a URL as a space counts
/// as `+`.
fn sort_field(
    text: &str,
    metrics: &[Metric],
    dimensions: &[Dimension],
) -> Result<(SortField, bool), Invalid> {
    let t = text.trim_start_matches(' ');
    let (name, descending) = match t.as_bytes().first() {
        Some(b'-') => (&t[1..], true),
        Some(b'+') => (&t[1..], false),
        _ => (t, false),
    };
    let field = match (Metric::parse(name), Dimension::parse(name)) {
        (Some(m), _) if metrics.contains(&m) => SortField::Metric(m),
        (_, Some(d)) if dimensions.contains(&d) => SortField::Dimension(d),
        (Some(_), _) | (_, Some(_)) => {
            return Err(Invalid::new(
                codes::ANALYTICS_SORT,
                format!(
                    "sort `{text}`: `{name}` is not among the requested metrics and dimensions"
                ),
            ))
        }
        _ => {
            return Err(Invalid::new(
                codes::ANALYTICS_SORT,
                format!("sort `{text}`: unknown field `{name}`"),
            ))
        }
    };
    Ok((field, descending))
}

/// RFC 3339 with `Z` or an offset; without either, UTC.
fn time(name: &str, text: &str) -> Result<DateTime<Utc>, Invalid> {
    // A `+` of an offset decoded from a URL as a space is put back.
    let text = text.trim().replace(' ', "+");
    if let Ok(t) = DateTime::parse_from_rfc3339(&text) {
        return Ok(t.with_timezone(&Utc));
    }
    NaiveDateTime::parse_from_str(&text, "%Y-%m-%dT%H:%M:%S%.f")
        .map(|t| t.and_utc())
        .map_err(|_| {
            Invalid::new(
                codes::ANALYTICS_TIME,
                format!("{name} `{text}` is not an RFC 3339 time such as 2026-12-01T10:00:00Z"),
            )
        })
}
