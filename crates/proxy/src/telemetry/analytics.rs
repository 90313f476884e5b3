//! Analytics events as the data plane records them: a connection or flow hands each event to
//! a bounded channel (never waiting: when it is full the event is dropped and counted), and
//! the channel is drained into the node's per-minute aggregates every 100 ms, before each
//! write to the store and before each query.

use model::analytics::{EventKind, LiveAnalytics, MinuteRow, Minutes, Sample, SeriesKey};
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;

/// How many events may wait to be aggregated before new ones are dropped.
const BACKLOG: usize = 65_536;
/// How often the waiting events are aggregated.
const DRAIN_EVERY: Duration = Duration::from_millis(100);
/// How often a connection or flow that stays open reports a `progress` event.
pub(crate) const PROGRESS_EVERY: Duration = Duration::from_secs(60);

/// Which app an event belongs to; one per app runtime, shared by its connections.
#[derive(Debug)]
pub(crate) struct AppRef {
    pub zone_id: String,
    pub app_id: String,
    /// A UDP app: its connections are flows.
    pub udp: bool,
}

struct Record {
    app: Arc<AppRef>,
    event: EventKind,
    ip_version: u8,
    sample: Sample,
    /// The event-log status of an `originError`.
    status: u16,
    /// Unix seconds.
    at: i64,
}

/// The node's analytics: the event channel and the minutes not yet written to the store.
pub struct Analytics {
    events: mpsc::Sender<Record>,
    waiting: Mutex<mpsc::Receiver<Record>>,
    minutes: Mutex<Minutes>,
    /// Every app's events since the node started, for the Prometheus metrics.
    totals: Mutex<BTreeMap<String, AppTotals>>,
    colo: String,
    dropped: AtomicU64,
}

/// One app's events since the node started.
#[derive(Debug, Clone, Default)]
pub(crate) struct AppTotals {
    pub zone_id: String,
    pub udp: bool,
    /// Connections (UDP: flows) admitted.
    pub connections: u64,
    /// Open now: filled in from the minutes, which keep that count.
    pub open: u64,
    pub bytes_ingress: u64,
    pub bytes_egress: u64,
    pub filtered: u64,
    /// `originError` events by event-log status.
    pub origin_errors: BTreeMap<u16, u64>,
}

impl AppTotals {
    fn add(&mut self, r: &Record) {
        if self.zone_id.is_empty() {
            self.zone_id = r.app.zone_id.clone();
        }
        self.udp = r.app.udp;
        self.bytes_ingress += r.sample.bytes_ingress;
        self.bytes_egress += r.sample.bytes_egress;
        match r.event {
            EventKind::Connect => self.connections += 1,
            EventKind::OriginError => *self.origin_errors.entry(r.status).or_default() += 1,
            EventKind::ClientFiltered => self.filtered += 1,
            EventKind::Disconnect | EventKind::Progress => {}
        }
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The client's IP version; an IPv4-mapped IPv6 address is an IPv4 client.
pub(crate) fn ip_version(ip: IpAddr) -> u8 {
    match ip {
        IpAddr::V4(_) => 4,
        IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some() => 4,
        IpAddr::V6(_) => 6,
    }
}

impl Analytics {
    /// The analytics of a node at `colo`; `start` drains its events in the background.
    pub fn new(colo: &str) -> Arc<Analytics> {
        let (events, waiting) = mpsc::channel(BACKLOG);
        Arc::new(Analytics {
            events,
            waiting: Mutex::new(waiting),
            minutes: Mutex::default(),
            totals: Mutex::default(),
            colo: colo.to_owned(),
            dropped: AtomicU64::new(0),
        })
    }

    /// Drains the events every 100 ms until the process ends (a weak handle: it stops when
    /// the analytics are dropped).
    pub fn start(self: &Arc<Analytics>) {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(DRAIN_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                match weak.upgrade() {
                    Some(analytics) => drop(analytics.drained()),
                    None => return,
                }
            }
        });
    }

    /// Records one event of `app` for a client at `client` (`status`: an `originError`'s
    /// event-log status). Never waits.
    pub(crate) fn record(
        &self,
        app: &Arc<AppRef>,
        event: EventKind,
        client: IpAddr,
        sample: Sample,
        status: u16,
    ) {
        let record = Record {
            app: app.clone(),
            event,
            ip_version: ip_version(client),
            sample,
            status,
            at: unix_now(),
        };
        if self.events.try_send(record).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The minutes, with every waiting event counted in.
    fn drained(&self) -> MutexGuard<'_, Minutes> {
        let mut minutes = self.minutes.lock().unwrap_or_else(|e| e.into_inner());
        let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        let mut totals = self.totals.lock().unwrap_or_else(|e| e.into_inner());
        // Each series' key (three strings) is made once per drain, not once per event. By the
        // app's address, which the `Arc` kept beside the key keeps from being reused.
        let mut keys: HashMap<(*const AppRef, EventKind, u8), (Arc<AppRef>, SeriesKey)> =
            HashMap::new();
        while let Ok(r) = waiting.try_recv() {
            let app = match totals.get_mut(&r.app.app_id) {
                Some(app) => app,
                None => totals.entry(r.app.app_id.clone()).or_default(),
            };
            app.add(&r);
            let (_, key) = keys
                .entry((Arc::as_ptr(&r.app), r.event, r.ip_version))
                .or_insert_with(|| {
                    let key = SeriesKey {
                        zone_id: r.app.zone_id.clone(),
                        app_id: r.app.app_id.clone(),
                        event: r.event,
                        colo: self.colo.clone(),
                        ip_version: r.ip_version,
                    };
                    (r.app.clone(), key)
                });
            minutes.record(r.at, key, &r.sample);
        }
        minutes
    }

    /// Every series changed since the last call, to be written to the store.
    pub fn take_changed(&self) -> Vec<MinuteRow> {
        self.drained().take_changed()
    }

    /// Hands `rows` out again with the next `take_changed` (their write failed).
    pub fn restore(&self, rows: &[MinuteRow]) {
        self.drained().restore(rows);
    }

    /// Forgets the written minutes before the one before now: the store answers for them.
    pub fn forget_written(&self) {
        let minute = model::analytics::minute_of(unix_now()) - 60;
        self.drained().forget_written_before(minute);
    }

    /// Every app's totals since the node started, with every waiting event counted in.
    pub(crate) fn totals(&self) -> BTreeMap<String, AppTotals> {
        let minutes = self.drained();
        let mut totals = self
            .totals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        for (app, t) in &mut totals {
            t.open = minutes.open_of(&t.zone_id, app);
        }
        totals
    }

    /// Events dropped because the channel was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl LiveAnalytics for Analytics {
    fn recent(&self, zone_id: &str, since: i64, until: i64) -> (Vec<MinuteRow>, Vec<i64>) {
        let minutes = self.drained();
        (minutes.rows(zone_id, since, until), minutes.held_minutes())
    }

    fn open_connections(&self, zone_id: &str) -> BTreeMap<String, u64> {
        self.drained().open_connections(zone_id)
    }

    fn colo(&self) -> &str {
        &self.colo
    }
}
