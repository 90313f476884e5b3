//! The reconciler: diffs each published snapshot against the last one and adds, updates or
//! drains app runtimes, so a change to one app never touches another's connections.

use crate::node::Node;
use crate::runtime::AppRuntime;
use crate::tls::uploaded::Uploaded;
use model::{diff, AppChange, Firewall, Snapshot};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

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
        // Unchanged zones keep their rule lists' Arcs from snapshot to snapshot, and an
        // untouched map is the same map.
        let rules_changed = !next.access_rules.ptr_eq(&current.access_rules)
            && (next.access_rules.len() != current.access_rules.len()
                || next
                    .access_rules
                    .iter()
                    .zip(&current.access_rules)
                    .any(|((z1, r1), (z2, r2))| z1 != z2 || !Arc::ptr_eq(r1, r2)));
        if rules_changed {
            // Rules apply when a client connects: open connections are left alone.
            let firewalls = next
                .access_rules
                .iter()
                .map(|(zone, rules)| (zone.clone(), Arc::new(Firewall::new(rules.iter()))))
                .collect();
            node.firewalls.store(Arc::new(firewalls));
        }
        let certificates_changed = !next.certificates.ptr_eq(&current.certificates)
            && (next.certificates.len() != current.certificates.len()
                || next
                    .certificates
                    .iter()
                    .zip(&current.certificates)
                    .any(|((z1, c1), (z2, c2))| z1 != z2 || !Arc::ptr_eq(c1, c2)));
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
