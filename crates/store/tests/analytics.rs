//! Analytics minutes in both backends: saved, replaced by a later save, read by zone and time,
//! kept apart per node, pruned by age.

mod common;

use common::Backend;
use model::analytics::{Aggregate, EventKind, MinuteRow, Sample, SeriesKey};

fn row(zone: &str, minute: i64, app: &str, bytes: u64, durations: &[f64]) -> MinuteRow {
    let mut aggregate = Aggregate::default();
    for ms in durations {
        aggregate.add(&Sample {
            bytes_ingress: bytes,
            bytes_egress: 2 * bytes,
            duration_ms: Some(*ms),
        });
    }
    MinuteRow {
        minute,
        key: SeriesKey {
            zone_id: zone.into(),
            app_id: app.into(),
            event: EventKind::Disconnect,
            colo: "SFO".into(),
            ip_version: 6,
        },
        aggregate,
    }
}

both!(minutes_are_saved_replaced_read_and_pruned);
fn minutes_are_saved_replaced_read_and_pruned(backend: &Backend) {
    let store = backend.open();
    let (z, other) = ("z".repeat(32), "o".repeat(32));
    store
        .save_analytics(
            "node-a",
            &[
                row(&z, 60, "a", 10, &[1.0]),
                row(&other, 60, "a", 1, &[1.0]),
            ],
        )
        .unwrap();
    // The same minute and series again: the later aggregate replaces the earlier one.
    store
        .save_analytics("node-a", &[row(&z, 60, "a", 10, &[1.0, 2.0, 3.0])])
        .unwrap();
    store
        .save_analytics(
            "node-b",
            &[row(&z, 60, "a", 5, &[7.0]), row(&z, 600, "a", 5, &[])],
        )
        .unwrap();

    let mut got = store.analytics(&z, 0, 120).unwrap();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(got.len(), 2, "{got:?}");
    let (node, a) = &got[0];
    assert_eq!(node, "node-a");
    assert_eq!(
        (a.minute, a.aggregate.count, a.aggregate.bytes_ingress),
        (60, 3, 30)
    );
    assert_eq!(a.aggregate.bytes_egress, 60);
    assert_eq!(a.key.ip_version, 6);
    assert_eq!(a.key.event, EventKind::Disconnect);
    assert_eq!(a.aggregate.durations.count(), 3);
    assert_eq!(a.aggregate.duration_avg(), 2.0);
    assert_eq!(got[1].0, "node-b");
    assert_eq!(store.analytics(&z, 120, 601).unwrap().len(), 1);
    assert!(store.analytics(&z, 601, 10_000).unwrap().is_empty());

    assert_eq!(store.prune_analytics(600).unwrap(), 3);
    assert_eq!(store.analytics(&z, 0, 10_000).unwrap().len(), 1);
    assert!(store.analytics(&other, 0, 10_000).unwrap().is_empty());
}
