//! The reconciler: diffs each published snapshot against the last one and adds, updates or
//! drains app runtimes, so a change to one app never touches another's connections.

use crate::node::Node;
use crate::runtime::AppRuntime;
use crate::tls::uploaded::Uploaded;
use model::{diff, AppChange, Firewall, Map, Snapshot};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Whether a per-zone map (access rules, certificates) differs between two snapshots. An
/// untouched map is the same map, and unchanged zones keep their lists' `Arc`s.
fn zones_changed<T>(old: &Map<String, Arc<T>>, new: &Map<String, Arc<T>>) -> bool {
    !new.ptr_eq(old)
        && (new.len() != old.len()
            || new
                .iter()
                .zip(old)
                .any(|((z1, a), (z2, b))| z1 != z2 || !Arc::ptr_eq(a, b)))
}

pub(crate) async fn run(
    node: Arc<Node>,
    mut snapshots: watch::Receiver<Arc<Snapshot>>,
    shutdown: CancellationToken,
) {
    let mut current = Arc::new(Snapshot::default());
    let mut apps: HashMap<String, AppRuntime> = HashMap::new();
    let mut draining = JoinSet::new();
    loop {
        let next = snapshots.borrow_and_update().clone();
        let rules_changed = zones_changed(&current.access_rules, &next.access_rules);
        if rules_changed {
            // Rules apply when a client connects: open connections are left alone.
            let firewalls = next
                .access_rules
                .iter()
                .map(|(zone, rules)| (zone.clone(), Arc::new(Firewall::new(rules.iter()))))
                .collect();
            node.firewalls.store(Arc::new(firewalls));
        }
        let certificates_changed = zones_changed(&current.certificates, &next.certificates);
        if certificates_changed {
            // The next handshake of every TLS app sees the new set.
            let uploaded = Uploaded::build(next.certificates.values().flat_map(|c| c.iter()));
            node.uploaded.store(Arc::new(uploaded));
        }
        for change in diff(&current, &next) {
            match change {
                AppChange::Added(app) => {
                    apps.insert(app.id.clone(), AppRuntime::start(app, node.clone()));
                }
                AppChange::Changed { new, .. } => match apps.get_mut(&new.id) {
                    Some(runtime) => runtime.update(new),
                    None => {
                        apps.insert(new.id.clone(), AppRuntime::start(new, node.clone()));
                    }
                },
                AppChange::Removed(app) => {
                    if let Some(runtime) = apps.remove(&app.id) {
                        draining.spawn(runtime.drain());
                    }
                }
            }
        }
        tracing::debug!(
            revision = next.revision,
            apps = apps.len(),
            "snapshot applied"
        );
        node.applied.send_replace(next.revision);
        current = next;
        // Reap finished drains as they end, so the set does not grow.
        while draining.try_join_next().is_some() {}
        tokio::select! {
            changed = snapshots.changed() => if changed.is_err() { break },
            () = shutdown.cancelled() => break,
        }
    }
    tracing::info!(apps = apps.len(), "stopping every app");
    for (_, runtime) in apps.drain() {
        draining.spawn(runtime.drain());
    }
    while draining.join_next().await.is_some() {}
}
