//! What the node answers while its store cannot be reached (PostgreSQL away): reads come from
//! the configuration it serves and the credentials copied with it, and say so; writes still go
//! to the store, and answer 503 until it is back.

use model::{App, AppListQuery, Snapshot};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use store::{AppPage, Credentials, Result, Store};
use tokio::sync::watch;

pub struct Fallback {
    inner: Arc<dyn Store>,
    /// The configuration the node serves.
    served: watch::Receiver<Arc<Snapshot>>,
    credentials: Arc<RwLock<Credentials>>,
    /// The last read could not reach the store.
    away: AtomicBool,
}

impl Fallback {
    pub fn new(
        inner: Arc<dyn Store>,
        served: watch::Receiver<Arc<Snapshot>>,
        credentials: Arc<RwLock<Credentials>>,
    ) -> Fallback {
        Fallback {
            inner,
            served,
            credentials,
            away: AtomicBool::new(false),
        }
    }

    /// The store's answer, or, when it cannot be reached, `copy`'s.
    fn read<T>(&self, live: Result<T>, copy: impl FnOnce(&Snapshot) -> Result<T>) -> Result<T> {
        match live {
            Err(error) if error.is_unavailable() => {
                self.away.store(true, Ordering::Relaxed);
                copy(&self.served.borrow())
            }
            other => {
                self.away.store(false, Ordering::Relaxed);
                other
            }
        }
    }

    fn credentials(&self) -> std::sync::RwLockReadGuard<'_, Credentials> {
        self.credentials.read().unwrap_or_else(|e| e.into_inner())
    }
}

impl Store for Fallback {
    fn degraded(&self) -> Option<String> {
        self.away.load(Ordering::Relaxed).then(|| {
            format!(
                "The configuration store is unavailable: this answer comes from this node's last configuration (revision {}); changes are refused until the store is back",
                self.served.borrow().revision
            )
        })
    }

    fn revision(&self) -> Result<u64> {
        self.inner.revision()
    }
    fn snapshot(&self) -> Result<Snapshot> {
        self.inner.snapshot()
    }
    fn changes_since(&self, revision: u64) -> Result<model::Changes> {
        self.inner.changes_since(revision)
    }

    fn zone(&self, id: &str) -> Result<Option<model::Zone>> {
        self.read(self.inner.zone(id), |s| Ok(s.zones.get(id).cloned()))
    }
    fn zone_by_name(&self, name: &str) -> Result<Option<model::Zone>> {
        let name = name.to_ascii_lowercase();
        self.read(self.inner.zone_by_name(&name), |s| {
            Ok(s.zones.values().find(|z| z.name == name).cloned())
        })
    }
    fn list_zones(&self) -> Result<Vec<model::Zone>> {
        self.read(self.inner.list_zones(), |s| {
            let mut zones: Vec<model::Zone> = s.zones.values().cloned().collect();
            zones.sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
            Ok(zones)
        })
    }
    fn app(&self, zone_id: &str, app_id: &str) -> Result<Option<App>> {
        self.read(self.inner.app(zone_id, app_id), |s| {
            Ok(s.apps
                .get(app_id)
                .filter(|a| a.zone_id == zone_id)
                .map(|a| (**a).clone()))
        })
    }
    fn list_apps(&self, zone_id: &str, query: &AppListQuery) -> Result<AppPage> {
        self.read(self.inner.list_apps(zone_id, query), |s| {
            let in_zone = s
                .apps
                .values()
                .filter(|a| a.zone_id == zone_id)
                .map(|a| &**a);
            let (apps, total_count) = query.page_of(in_zone);
            Ok(AppPage { apps, total_count })
        })
    }
    fn access_rules(&self, zone_id: &str) -> Result<Vec<model::AccessRule>> {
        self.read(self.inner.access_rules(zone_id), |s| {
            Ok(s.access_rules
                .get(zone_id)
                .map(|r| (**r).clone())
                .unwrap_or_default())
        })
    }
    fn access_rule(&self, zone_id: &str, id: &str) -> Result<Option<model::AccessRule>> {
        self.read(self.inner.access_rule(zone_id, id), |s| {
            Ok(s.access_rules
                .get(zone_id)
                .and_then(|r| r.iter().find(|r| r.id == id).cloned()))
        })
    }
    fn certificates(&self, zone_id: &str) -> Result<Vec<model::Certificate>> {
        self.read(self.inner.certificates(zone_id), |s| {
            Ok(s.certificates
                .get(zone_id)
                .map(|c| (**c).clone())
                .unwrap_or_default())
        })
    }
    fn certificate(&self, zone_id: &str, id: &str) -> Result<Option<model::Certificate>> {
        self.read(self.inner.certificate(zone_id, id), |s| {
            Ok(s.certificates
                .get(zone_id)
                .and_then(|c| c.iter().find(|c| c.id == id).cloned()))
        })
    }
    fn token_by_secret(&self, secret: &str) -> Result<Option<model::Token>> {
        self.read(self.inner.token_by_secret(secret), |_| {
            self.credentials().token(secret)
        })
    }
    fn user_by_key(&self, email: &str, key: &str) -> Result<Option<model::User>> {
        self.read(self.inner.user_by_key(email, key), |_| {
            self.credentials().user(email, key)
        })
    }
    fn save_analytics(&self, node: &str, rows: &[model::analytics::MinuteRow]) -> Result<()> {
        self.inner.save_analytics(node, rows)
    }
    fn analytics(
        &self,
        zone_id: &str,
        since: i64,
        until: i64,
    ) -> Result<Vec<(String, model::analytics::MinuteRow)>> {
        // While the store is away only the minutes in this node's memory answer.
        self.read(self.inner.analytics(zone_id, since, until), |_| {
            Ok(Vec::new())
        })
    }
    fn prune_analytics(&self, before: i64) -> Result<u64> {
        self.inner.prune_analytics(before)
    }
    fn nodes(&self) -> Result<Vec<model::Node>> {
        // Heartbeats are not copied: while the store is away, no node is known to be live.
        self.read(self.inner.nodes(), |_| Ok(Vec::new()))
    }

    // Writes, and what only the store knows, go to the store.
    fn create_zone(&self, name: &str) -> Result<model::Zone> {
        self.inner.create_zone(name)
    }
    fn delete_zone(&self, id: &str) -> Result<bool> {
        self.inner.delete_zone(id)
    }
    fn create_app(&self, zone_id: &str, config: &model::AppConfig, edge: &[IpAddr]) -> Result<App> {
        self.inner.create_app(zone_id, config, edge)
    }
    fn update_app(
        &self,
        zone_id: &str,
        app_id: &str,
        config: &model::AppConfig,
        edge: &[IpAddr],
    ) -> Result<App> {
        self.inner.update_app(zone_id, app_id, config, edge)
    }
    fn delete_app(&self, zone_id: &str, app_id: &str) -> Result<bool> {
        self.inner.delete_app(zone_id, app_id)
    }
    fn create_access_rule(
        &self,
        zone_id: &str,
        fields: &model::RuleFields,
    ) -> Result<model::AccessRule> {
        self.inner.create_access_rule(zone_id, fields)
    }
    fn update_access_rule(
        &self,
        zone_id: &str,
        id: &str,
        fields: &model::RuleFields,
    ) -> Result<Option<model::AccessRule>> {
        self.inner.update_access_rule(zone_id, id, fields)
    }
    fn delete_access_rule(&self, zone_id: &str, id: &str) -> Result<bool> {
        self.inner.delete_access_rule(zone_id, id)
    }
    fn create_certificate(
        &self,
        zone_id: &str,
        fields: &model::CertificateFields,
    ) -> Result<model::Certificate> {
        self.inner.create_certificate(zone_id, fields)
    }
    fn update_certificate(
        &self,
        zone_id: &str,
        id: &str,
        fields: &model::CertificateFields,
    ) -> Result<Option<model::Certificate>> {
        self.inner.update_certificate(zone_id, id, fields)
    }
    fn delete_certificate(&self, zone_id: &str, id: &str) -> Result<bool> {
        self.inner.delete_certificate(zone_id, id)
    }
    fn create_token(
        &self,
        name: &str,
        permissions: &[model::Permission],
        zones: Option<&[String]>,
    ) -> Result<(model::Token, String)> {
        self.inner.create_token(name, permissions, zones)
    }
    fn list_tokens(&self) -> Result<Vec<model::Token>> {
        self.inner.list_tokens()
    }
    fn revoke_token(&self, id: &str) -> Result<bool> {
        self.inner.revoke_token(id)
    }
    fn create_user(&self, email: &str) -> Result<(model::User, String)> {
        self.inner.create_user(email)
    }
    fn heartbeat(&self, node: &model::Node) -> Result<()> {
        self.inner.heartbeat(node)
    }
    fn node_addresses(&self, node: &str) -> Result<model::LocalAddresses> {
        self.inner.node_addresses(node)
    }
    fn save_node_addresses(&self, node: &str, changes: &[model::LocalChange]) -> Result<()> {
        self.inner.save_node_addresses(node, changes)
    }
    fn credentials(&self) -> Result<Credentials> {
        self.inner.credentials()
    }
    fn export(&self) -> Result<store::Dump> {
        self.inner.export()
    }
    fn import(&self, dump: &store::Dump) -> Result<store::Imported> {
        self.inner.import(dump)
    }
}
