//! Analytics without I/O: the filter grammar, query validation, the minutes table and reports.

use chrono::{DateTime, TimeZone, Utc};
use model::analytics::*;
use model::codes;

fn key(app: &str, event: EventKind, colo: &str, v: u8) -> SeriesKey {
    SeriesKey {
        zone_id: "z".into(),
        app_id: app.into(),
        event,
        colo: colo.into(),
        ip_version: v,
    }
}

fn params(pairs: &[(&str, &str)]) -> Params {
    let mut p = Params::default();
    for (k, v) in pairs {
        let v = v.to_string();
        match *k {
            "metrics" => p.metrics.push(v),
            "dimensions" => p.dimensions.push(v),
            "filters" => p.filters = Some(v),
            "sort" => p.sort.push(v),
            "since" => p.since = Some(v),
            "until" => p.until = Some(v),
            "time_delta" => p.time_delta = Some(v),
            "limit" => p.limit = Some(v),
            other => panic!("{other}"),
        }
    }
    p
}

fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, h, m, s).unwrap()
}

#[test]
fn every_comparison_operator() {
    let k4 = key("a", EventKind::Connect, "SFO", 4);
    let k6 = key("b", EventKind::Disconnect, "LHR", 6);
    let cases = [
        ("ipVersion==4", true, false),
        ("ipVersion!=4", false, true),
        ("ipVersion>4", false, true),
        ("ipVersion<6", true, false),
        ("ipVersion>=6", false, true),
        ("ipVersion<=4", true, false),
        ("coloName>LHR", true, false),
        ("event==disconnect", false, true),
        ("appID != a", false, true),
    ];
    for (text, on4, on6) in cases {
        let f = Filter::parse(text).unwrap();
        assert_eq!((f.matches(&k4), f.matches(&k6)), (on4, on6), "{text}");
    }
}

#[test]
fn and_binds_tighter_than_or_in_both_spellings() {
    // a OR (b AND c): true for k1 (a) although c fails for it.
    let k1 = key("a", EventKind::Connect, "SFO", 4);
    let k2 = key("b", EventKind::Connect, "SFO", 6);
    let k3 = key("b", EventKind::Connect, "LHR", 6);
    for text in [
        "appID==a,appID==b;coloName==LHR",
        "appID==a OR appID==b AND coloName==LHR",
        "appID==a OR appID==b;coloName==LHR",
    ] {
        let f = Filter::parse(text).unwrap();
        assert!(f.matches(&k1), "{text}");
        assert!(!f.matches(&k2), "{text}");
        assert!(f.matches(&k3), "{text}");
    }
    assert_eq!(Filter::parse("").unwrap(), Filter::default());
}

#[test]
fn malformed_filters_name_the_mistake() {
    for (text, says) in [
        ("appID", "no comparison"),
        ("color==red", "unknown dimension `color`"),
        ("event==open", "unknown event `open`"),
        ("ipVersion==x", "ipVersion"),
        ("appID==", "no value"),
    ] {
        let err = Query::parse(&params(&[("filters", text)]), false, at(12, 0, 0)).unwrap_err();
        assert_eq!(err.code, codes::ANALYTICS_FILTER, "{text}");
        assert!(err.message.contains(says), "{text}: {}", err.message);
    }
}

#[test]
fn bad_queries_are_refused_with_their_codes() {
    let now = at(12, 0, 0);
    type Case<'a> = (&'a [(&'a str, &'a str)], bool, u32, &'a str);
    let cases: &[Case] = &[
        (
            &[("metrics", "bytes")],
            false,
            codes::ANALYTICS_METRIC,
            "`bytes`",
        ),
        (
            &[("dimensions", "host")],
            false,
            codes::ANALYTICS_DIMENSION,
            "`host`",
        ),
        (
            &[("sort", "-bytesIngress")],
            false,
            codes::ANALYTICS_SORT,
            "not among",
        ),
        (
            &[("sort", "+nothing")],
            false,
            codes::ANALYTICS_SORT,
            "unknown field",
        ),
        (
            &[
                ("since", "2026-12-01T12:00:00Z"),
                ("until", "2026-12-01T11:00:00Z"),
            ],
            false,
            codes::ANALYTICS_TIME,
            "after",
        ),
        (
            &[("since", "yesterday")],
            false,
            codes::ANALYTICS_TIME,
            "`yesterday`",
        ),
        (&[], true, codes::ANALYTICS_TIME_DELTA, "required"),
        (
            &[("time_delta", "second")],
            true,
            codes::ANALYTICS_TIME_DELTA,
            "`second`",
        ),
        (&[("limit", "0")], false, codes::ANALYTICS_LIMIT, "`0`"),
        (
            &[("time_delta", "minute"), ("since", "2026-01-01T00:00:00Z")],
            true,
            codes::ANALYTICS_TIME,
            "buckets",
        ),
    ];
    for (pairs, bytime, code, says) in cases {
        let err = Query::parse(&params(pairs), *bytime, now)
            .and_then(|q| report(&q, &[]))
            .unwrap_err();
        assert_eq!(err.code, *code, "{pairs:?}");
        assert!(err.message.contains(says), "{pairs:?}: {}", err.message);
    }
}

#[test]
fn times_with_z_an_offset_or_nothing_and_the_defaults() {
    let now = at(12, 0, 0);
    let q = Query::parse(&params(&[]), false, now).unwrap();
    assert_eq!((q.since, q.until), (at(6, 0, 0), now));
    assert_eq!(q.metrics, vec![Metric::Count]);
    for text in [
        "2026-12-01T10:00:00Z",
        "2026-12-01T11:00:00+01:00",
        "2026-12-01T11:00:00 01:00", // `+` decoded from a URL as a space
        "2026-12-01T10:00:00",
        "2026-12-01T10:00:00.000Z",
    ] {
        let q = Query::parse(&params(&[("since", text)]), false, now).unwrap();
        assert_eq!(q.since, at(10, 0, 0), "{text}");
    }
}

fn sample(i: u64, o: u64, ms: Option<f64>) -> Sample {
    Sample {
        bytes_ingress: i,
        bytes_egress: o,
        duration_ms: ms,
    }
}

#[test]
fn minutes_count_open_connections_and_hand_out_changes_once() {
    let mut m = Minutes::default();
    let t = at(12, 0, 30).timestamp();
    m.record(
        t,
        &key("a", EventKind::Connect, "LOC", 4),
        &sample(0, 0, None),
    );
    m.record(
        t,
        &key("a", EventKind::Connect, "LOC", 4),
        &sample(0, 0, None),
    );
    m.record(
        t + 40,
        &key("a", EventKind::Disconnect, "LOC", 4),
        &sample(10, 20, Some(5.0)),
    );
    assert_eq!(m.open_connections("z").get("a"), Some(&1));
    assert!(m.open_connections("other").is_empty());
    assert_eq!(m.open_of("z", "a"), 1);
    assert_eq!(
        m.open_of("other", "a"),
        0,
        "an app is open only in its own zone"
    );
    m.record(
        t + 50,
        &key("a", EventKind::Disconnect, "LOC", 4),
        &sample(0, 0, Some(1.0)),
    );
    assert_eq!(m.open_of("z", "a"), 0);
    assert!(
        m.open_connections("z").is_empty(),
        "a closed app leaves no entry"
    );
    let changed = m.take_changed();
    assert_eq!(
        changed.len(),
        2,
        "two minutes: connects at 12:00, the disconnect at 12:01"
    );
    assert!(m.take_changed().is_empty());
    m.restore(&changed);
    assert_eq!(m.take_changed().len(), 2);
    m.forget_written_before(at(12, 1, 0).timestamp());
    assert_eq!(m.held_minutes(), vec![at(12, 1, 0).timestamp()]);
    let rows = m.rows("z", at(12, 0, 0).timestamp(), at(13, 0, 0).timestamp());
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].aggregate.bytes_egress, 20);
}

fn row(minute: DateTime<Utc>, key: SeriesKey, samples: &[Sample]) -> MinuteRow {
    let mut aggregate = Aggregate::default();
    for s in samples {
        aggregate.add(s);
    }
    MinuteRow {
        minute: minute.timestamp(),
        key,
        aggregate,
    }
}

#[test]
fn summary_groups_sorts_limits_and_totals() {
    let durations: Vec<Sample> = (1..=100)
        .map(|i| sample(1, 2, Some(i as f64 * 10.0)))
        .collect();
    let rows = vec![
        row(
            at(11, 0, 0),
            key("a", EventKind::Disconnect, "LOC", 4),
            &durations,
        ),
        row(
            at(11, 1, 0),
            key("b", EventKind::Disconnect, "LOC", 6),
            &durations[..10],
        ),
        row(
            at(11, 2, 0),
            key("b", EventKind::Connect, "LOC", 6),
            &[sample(0, 0, None)],
        ),
        // Outside the range: not counted.
        row(
            at(3, 0, 0),
            key("a", EventKind::Disconnect, "LOC", 4),
            &durations,
        ),
    ];
    let p = params(&[
        ("metrics", "count"),
        ("metrics", "bytesIngress"),
        ("metrics", "durationMedian"),
        ("metrics", "duration99th"),
        ("dimensions", "appID"),
        ("sort", "-count"),
        ("since", "2026-12-01T10:00:00Z"),
        ("until", "2026-12-01T12:00:00Z"),
    ]);
    let q = Query::parse(&p, false, at(12, 0, 0)).unwrap();
    let r = report(&q, &rows).unwrap();
    assert_eq!(r["rows"], 2);
    assert_eq!(r["data"][0]["dimensions"][0], "a");
    assert_eq!(r["data"][0]["metrics"][0], 100);
    assert_eq!(r["data"][0]["metrics"][1], 100);
    // Rank ⌊q·(n−1)⌋ of 10, 20, ..., 1000 within 1 %: 500 and 990.
    let median = r["data"][0]["metrics"][2].as_f64().unwrap();
    let p99 = r["data"][0]["metrics"][3].as_f64().unwrap();
    assert!((median - 500.0).abs() <= 5.0, "{median}");
    assert!((p99 - 990.0).abs() <= 9.9, "{p99}");
    assert_eq!(r["data"][1]["dimensions"][0], "b");
    assert_eq!(r["data"][1]["metrics"][0], 11);
    assert_eq!(r["totals"]["count"], 111);
    assert_eq!(r["min"]["count"], 11);
    assert_eq!(r["max"]["count"], 100);
    assert_eq!(r["query"]["sort"][0], "-count");

    let limited = Query::parse(
        &params(&[
            ("dimensions", "appID"),
            ("sort", "+count"),
            ("limit", "1"),
            ("since", "2026-12-01T10:00:00Z"),
        ]),
        false,
        at(12, 0, 0),
    )
    .unwrap();
    let r = report(&limited, &rows).unwrap();
    assert_eq!(
        (r["rows"].as_u64(), r["data"][0]["dimensions"][0].as_str()),
        (Some(1), Some("b"))
    );
}

#[test]
fn bytime_buckets_align_and_split_at_minute_boundaries() {
    let rows = vec![
        row(
            at(11, 59, 0),
            key("a", EventKind::Connect, "LOC", 4),
            &[sample(5, 0, None)],
        ),
        row(
            at(12, 0, 0),
            key("a", EventKind::Connect, "LOC", 4),
            &[sample(7, 0, None), sample(1, 0, None)],
        ),
    ];
    let p = params(&[
        ("metrics", "count"),
        ("metrics", "bytesIngress"),
        ("time_delta", "minute"),
        ("since", "2026-12-01T11:58:30Z"),
        ("until", "2026-12-01T12:01:00Z"),
    ]);
    let r = report(&Query::parse(&p, true, at(12, 1, 0)).unwrap(), &rows).unwrap();
    assert_eq!(r["time_intervals"].as_array().unwrap().len(), 3);
    assert_eq!(r["time_intervals"][0][0], "2026-12-01T11:58:00.000000Z");
    assert_eq!(r["data"][0]["metrics"][0], serde_json::json!([0, 1, 2]));
    assert_eq!(r["data"][0]["metrics"][1], serde_json::json!([0, 5, 8]));
    assert_eq!(r["totals"]["bytesIngress"], 13);

    // Every time_delta's bucket start.
    let t = Utc.with_ymd_and_hms(2026, 11, 26, 13, 47, 12).unwrap(); // a Thursday
    let starts = [
        (
            TimeDelta::Minute,
            Utc.with_ymd_and_hms(2026, 11, 26, 13, 47, 0),
        ),
        (
            TimeDelta::Dekaminute,
            Utc.with_ymd_and_hms(2026, 11, 26, 13, 40, 0),
        ),
        (
            TimeDelta::Hour,
            Utc.with_ymd_and_hms(2026, 11, 26, 13, 0, 0),
        ),
        (TimeDelta::Day, Utc.with_ymd_and_hms(2026, 11, 26, 0, 0, 0)),
        (TimeDelta::Week, Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0)),
        (TimeDelta::Month, Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0)),
        (
            TimeDelta::Quarter,
            Utc.with_ymd_and_hms(2026, 10, 1, 0, 0, 0),
        ),
        (TimeDelta::Year, Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)),
    ];
    for (delta, start) in starts {
        assert_eq!(bucket_start(delta, t), start.unwrap(), "{delta:?}");
    }
}
