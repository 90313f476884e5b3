//! The minutes a node holds in memory: every series' aggregate of the minutes not yet written
//! to the store (and of the minute still open), and the connections open per app. The clock
//! is the caller's, so this is tested without waiting.

use super::event::{minute_of, Aggregate, EventKind, MinuteRow, Sample, SeriesKey};
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Clone, Default)]
struct Entry {
    aggregate: Aggregate,
    /// Changed since it was last handed out to be written.
    dirty: bool,
}

/// The node's recent minutes, by minute start (unix seconds), then series.
#[derive(Debug, Default)]
pub struct Minutes {
    minutes: BTreeMap<i64, HashMap<SeriesKey, Entry>>,
    /// Connections and flows open now, by app (with its zone).
    open: HashMap<String, (String, u64)>,
}

impl Minutes {
    /// Counts `sample` as one `key.event` at `unix_seconds`.
    pub fn record(&mut self, unix_seconds: i64, key: &SeriesKey, sample: &Sample) {
        // Looked up by reference: an event allocates only the first time its app or series
        // shows up.
        match key.event {
            EventKind::Connect => match self.open.get_mut(&key.app_id) {
                Some((_, n)) => *n += 1,
                None => {
                    let zone = key.zone_id.clone();
                    self.open.insert(key.app_id.clone(), (zone, 1));
                }
            },
            EventKind::Disconnect | EventKind::OriginError => {
                if let Some((_, n)) = self.open.get_mut(&key.app_id) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        self.open.remove(&key.app_id);
                    }
                }
            }
            EventKind::Progress | EventKind::ClientFiltered => {}
        }
        let series = self.minutes.entry(minute_of(unix_seconds)).or_default();
        let entry = match series.get_mut(key) {
            Some(entry) => entry,
            None => series.entry(key.clone()).or_default(),
        };
        entry.aggregate.add(sample);
        entry.dirty = true;
    }

    /// Copies of every series changed since the last call, to be written to the store.
    pub fn take_changed(&mut self) -> Vec<MinuteRow> {
        let mut rows = Vec::new();
        for (minute, series) in &mut self.minutes {
            for (key, entry) in series.iter_mut().filter(|(_, e)| e.dirty) {
                entry.dirty = false;
                rows.push(MinuteRow {
                    minute: *minute,
                    key: key.clone(),
                    aggregate: entry.aggregate.clone(),
                });
            }
        }
        rows
    }

    /// Marks `rows` changed again (their write failed), so the next `take_changed` has them.
    pub fn restore(&mut self, rows: &[MinuteRow]) {
        for row in rows {
            if let Some(entry) = self
                .minutes
                .get_mut(&row.minute)
                .and_then(|s| s.get_mut(&row.key))
            {
                entry.dirty = true;
            }
        }
    }

    /// Forgets the minutes before `minute` that have been written: the store answers for
    /// them from now on.
    pub fn forget_written_before(&mut self, minute: i64) {
        let older: Vec<i64> = self.minutes.range(..minute).map(|(m, _)| *m).collect();
        for m in older {
            if self.minutes[&m].values().all(|e| !e.dirty) {
                self.minutes.remove(&m);
            }
        }
    }

    /// The minutes held here, from `since` (inclusive) to `until` (exclusive), for one zone.
    pub fn rows(&self, zone_id: &str, since: i64, until: i64) -> Vec<MinuteRow> {
        self.minutes
            .range(minute_of(since)..until.max(since))
            .flat_map(|(minute, series)| {
                series
                    .iter()
                    .filter(|(key, _)| key.zone_id == zone_id)
                    .map(|(key, entry)| MinuteRow {
                        minute: *minute,
                        key: key.clone(),
                        aggregate: entry.aggregate.clone(),
                    })
            })
            .collect()
    }

    /// The minute starts held here (the store's copies of them are older).
    pub fn held_minutes(&self) -> Vec<i64> {
        self.minutes.keys().copied().collect()
    }

    /// Connections and flows of one app open now.
    pub fn open_of(&self, zone_id: &str, app_id: &str) -> u64 {
        match self.open.get(app_id) {
            Some((zone, n)) if zone == zone_id => *n,
            _ => 0,
        }
    }

    /// Connections and flows open now, by app, for one zone.
    pub fn open_connections(&self, zone_id: &str) -> BTreeMap<String, u64> {
        self.open
            .iter()
            .filter(|(_, (zone, _))| zone == zone_id)
            .map(|(app, (_, n))| (app.clone(), *n))
            .collect()
    }
}
