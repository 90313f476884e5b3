//! The whole configuration at one store revision, and the pure diff the data plane reconciles from.

use crate::{AccessRule, App, Certificate, Zone};
use imbl::ordmap::DiffItem;
use std::sync::Arc;

/// Every zone, app and access rule as of `revision`. Cheap to clone: apps and rule lists are
/// shared.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub revision: u64,
    pub zones: Map<String, Zone>,
    pub apps: Map<String, Arc<App>>,
    /// Each zone's access rules (zones without rules are absent).
    pub access_rules: Map<String, Arc<Vec<AccessRule>>>,
    /// Each zone's custom certificates (zones without any are absent).
    pub certificates: Map<String, Arc<Vec<Certificate>>>,
}

/// The snapshot's maps are persistent (structure-sharing B-trees): a change copies the path to
/// what it touches rather than every entry, and `diff` skips the subtrees two snapshots share,
/// so applying and diffing one change costs O(log n) in the number of apps, not O(n).
pub type Map<K, V> = imbl::OrdMap<K, V>;

/// What the store reports as changed since a revision.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Changes {
    pub revision: u64,
    pub zones: Vec<Zone>,
    pub removed_zones: Vec<String>,
    pub apps: Vec<App>,
    pub removed_apps: Vec<String>,
    /// The whole rule list of each zone whose rules changed (empty: it has none now).
    pub access_rules: Vec<(String, Vec<AccessRule>)>,
    /// The whole certificate list of each zone whose certificates changed.
    pub certificates: Vec<(String, Vec<Certificate>)>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.zones.is_empty()
            && self.removed_zones.is_empty()
            && self.apps.is_empty()
            && self.removed_apps.is_empty()
            && self.access_rules.is_empty()
            && self.certificates.is_empty()
    }
}

/// How one app differs between two snapshots.
#[derive(Debug, Clone, PartialEq)]
pub enum AppChange {
    Added(Arc<App>),
    Changed { old: Arc<App>, new: Arc<App> },
    Removed(Arc<App>),
}

impl Snapshot {
    /// The snapshot with `changes` applied on top.
    pub fn apply(&self, changes: Changes) -> Snapshot {
        let mut next = self.clone();
        next.revision = changes.revision.max(self.revision);
        for id in changes.removed_zones {
            next.zones.remove(&id);
            next.access_rules.remove(&id);
            next.certificates.remove(&id);
        }
        for zone in changes.zones {
            next.zones.insert(zone.id.clone(), zone);
        }
        for id in changes.removed_apps {
            next.apps.remove(&id);
        }
        for app in changes.apps {
            next.apps.insert(app.id.clone(), Arc::new(app));
        }
        for (zone_id, rules) in changes.access_rules {
            if rules.is_empty() {
                next.access_rules.remove(&zone_id);
            } else {
                next.access_rules.insert(zone_id, Arc::new(rules));
            }
        }
        for (zone_id, certificates) in changes.certificates {
            if certificates.is_empty() {
                next.certificates.remove(&zone_id);
            } else {
                next.certificates.insert(zone_id, Arc::new(certificates));
            }
        }
        next
    }
}

/// The apps removed and changed from `old` to `new`, then those added (so an added app finds
/// the sockets a removed one let go), each part in app-id order. Subtrees the two snapshots
/// share are not visited: one change costs O(log n), not a walk over every app.
pub fn diff(old: &Snapshot, new: &Snapshot) -> Vec<AppChange> {
    let mut out = Vec::new();
    let mut added = Vec::new();
    for item in old.apps.diff(&new.apps) {
        match item {
            DiffItem::Add(_, app) => added.push(AppChange::Added(app.clone())),
            DiffItem::Update { old, new } => out.push(AppChange::Changed {
                old: old.1.clone(),
                new: new.1.clone(),
            }),
            DiffItem::Remove(_, app) => out.push(AppChange::Removed(app.clone())),
        }
    }
    out.extend(added);
    out
}
