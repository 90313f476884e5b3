//! The whole configuration at one store revision, and the pure diff the data plane reconciles from.

use crate::{AccessRule, App, Certificate, Zone};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Every zone, app and access rule as of `revision`. Cheap to clone: apps and rule lists are
/// shared.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub revision: u64,
    pub zones: BTreeMap<String, Zone>,
    pub apps: BTreeMap<String, Arc<App>>,
    /// Each zone's access rules (zones without rules are absent).
    pub access_rules: BTreeMap<String, Arc<Vec<AccessRule>>>,
    /// Each zone's custom certificates (zones without any are absent).
    pub certificates: BTreeMap<String, Arc<Vec<Certificate>>>,
}

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

/// The apps added, changed and removed from `old` to `new`, in app-id order.
pub fn diff(old: &Snapshot, new: &Snapshot) -> Vec<AppChange> {
    let mut out = Vec::new();
    for (id, app) in &old.apps {
        match new.apps.get(id) {
            None => out.push(AppChange::Removed(app.clone())),
            Some(now) if now != app => out.push(AppChange::Changed {
                old: app.clone(),
                new: now.clone(),
            }),
            Some(_) => {}
        }
    }
    for (id, app) in &new.apps {
        if !old.apps.contains_key(id) {
            out.push(AppChange::Added(app.clone()));
        }
    }
    out
}
