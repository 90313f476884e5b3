//! The node's last configuration on its own disk (`DATA_DIR/last-config.json`, with the
//! PostgreSQL store): a node restarted while the database is away serves what it served before.
//! Written aside and renamed, readable by the node's user only, at most once a second.

use chrono::{DateTime, Utc};
use model::{
    AccessRule, AccessRuleMode, App, AppConfig, LocalAddresses, RuleFields, RuleTarget, Snapshot,
    Zone,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use store::Credentials;

pub const FILE: &str = "last-config.json";
const EVERY: Duration = Duration::from_secs(1);

#[derive(Serialize, Deserialize)]
struct CachedZone {
    id: String,
    name: String,
    created_on: DateTime<Utc>,
    modified_on: DateTime<Utc>,
}

#[derive(Serialize, Deserialize)]
struct CachedApp {
    id: String,
    zone_id: String,
    created_on: DateTime<Utc>,
    modified_on: DateTime<Utc>,
    config: Value,
    edge_addresses: Vec<IpAddr>,
}

#[derive(Serialize, Deserialize)]
struct CachedRule {
    id: String,
    zone_id: String,
    mode: String,
    target: String,
    value: String,
    notes: String,
    created_on: DateTime<Utc>,
    modified_on: DateTime<Utc>,
}

#[derive(Serialize, Deserialize)]
struct Cached {
    revision: u64,
    zones: Vec<CachedZone>,
    apps: Vec<CachedApp>,
    rules: Vec<CachedRule>,
    /// The node's own addresses for other nodes' apps.
    local: LocalAddresses,
    /// Tokens and users as stored (hashes), to authenticate reads while the store is away.
    #[serde(default)]
    credentials: Credentials,
}

fn to_cached(s: &Snapshot, local: &LocalAddresses, credentials: &Credentials) -> Cached {
    Cached {
        revision: s.revision,
        zones: s
            .zones
            .values()
            .map(|z| CachedZone {
                id: z.id.clone(),
                name: z.name.clone(),
                created_on: z.created_on,
                modified_on: z.modified_on,
            })
            .collect(),
        apps: s
            .apps
            .values()
            .map(|a| CachedApp {
                id: a.id.clone(),
                zone_id: a.zone_id.clone(),
                created_on: a.created_on,
                modified_on: a.modified_on,
                config: serde_json::to_value(&a.config).unwrap_or(Value::Null),
                edge_addresses: a.edge_addresses.clone(),
            })
            .collect(),
        rules: s
            .access_rules
            .values()
            .flat_map(|rules| rules.iter())
            .map(|r| CachedRule {
                id: r.id.clone(),
                zone_id: r.zone_id.clone(),
                mode: r.fields.mode.as_str().to_owned(),
                target: r.fields.target.as_str().to_owned(),
                value: r.fields.value.clone(),
                notes: r.fields.notes.clone(),
                created_on: r.created_on,
                modified_on: r.modified_on,
            })
            .collect(),
        local: local.clone(),
        credentials: credentials.clone(),
    }
}

fn from_cached(c: Cached) -> Result<Saved, String> {
    let mut snapshot = Snapshot {
        revision: c.revision,
        ..Snapshot::default()
    };
    for z in c.zones {
        let zone = Zone {
            id: z.id,
            name: z.name,
            created_on: z.created_on,
            modified_on: z.modified_on,
        };
        snapshot.zones.insert(zone.id.clone(), zone);
    }
    for a in c.apps {
        let config = AppConfig::from_json(a.config).map_err(|e| format!("app {}: {e}", a.id))?;
        let mut app = App::new(a.id, a.zone_id, a.created_on, config, a.edge_addresses);
        app.modified_on = a.modified_on;
        snapshot.apps.insert(app.id.clone(), Arc::new(app));
    }
    let mut rules: BTreeMap<String, Vec<AccessRule>> = BTreeMap::new();
    for r in c.rules {
        let fields = RuleFields {
            mode: AccessRuleMode::parse_field(&r.mode, "mode").map_err(|e| e.message)?,
            target: RuleTarget::parse_field(&r.target, "target").map_err(|e| e.message)?,
            value: r.value,
            notes: r.notes,
        };
        rules
            .entry(r.zone_id.clone())
            .or_default()
            .push(AccessRule {
                id: r.id,
                zone_id: r.zone_id,
                fields,
                created_on: r.created_on,
                modified_on: r.modified_on,
            });
    }
    snapshot.access_rules = rules.into_iter().map(|(z, l)| (z, Arc::new(l))).collect();
    Ok(Saved {
        snapshot,
        local: c.local,
        credentials: c.credentials,
    })
}

/// What a node saved: the configuration it served, its own addresses, and the credentials.
pub struct Saved {
    pub snapshot: Snapshot,
    pub local: LocalAddresses,
    pub credentials: Credentials,
}

/// The last configuration saved in `dir`, if there is a readable one.
pub fn load(dir: &Path) -> Option<Saved> {
    let path = dir.join(FILE);
    let text = std::fs::read_to_string(&path).ok()?;
    match serde_json::from_str(&text)
        .map_err(|e| e.to_string())
        .and_then(from_cached)
    {
        Ok(loaded) => Some(loaded),
        Err(error) => {
            tracing::warn!(path = %path.display(), %error, "the saved configuration is unreadable");
            None
        }
    }
}

/// Saves published snapshots to a data dir, at most once a second.
struct Saver {
    path: PathBuf,
    last: Option<Instant>,
    saved_revision: u64,
}

impl Saver {
    fn new(dir: &Path) -> Saver {
        Saver {
            path: dir.join(FILE),
            last: None,
            saved_revision: 0,
        }
    }

    /// Saves `snapshot` unless it is saved already or the last save was under a second ago.
    async fn save(
        &mut self,
        snapshot: &Snapshot,
        local: &LocalAddresses,
        credentials: &RwLock<Credentials>,
    ) {
        if snapshot.revision == self.saved_revision
            || self.last.is_some_and(|t| t.elapsed() < EVERY)
        {
            return;
        }
        let cached = {
            let credentials = credentials.read().unwrap_or_else(|e| e.into_inner());
            to_cached(snapshot, local, &credentials)
        };
        let json = match serde_json::to_vec(&cached) {
            Ok(json) => json,
            Err(error) => return tracing::warn!(%error, "cannot encode the configuration"),
        };
        let path = self.path.clone();
        let written = tokio::task::spawn_blocking(move || write(&path, &json)).await;
        self.last = Some(Instant::now());
        match written {
            Ok(Ok(())) => self.saved_revision = snapshot.revision,
            Ok(Err(error)) => tracing::warn!(%error, "cannot save the configuration locally"),
            Err(error) => tracing::warn!(%error, "configuration saver failed"),
        }
    }
}

fn write(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("json.tmp");
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(data)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// What a node on PostgreSQL keeps for an outage: the credentials reads fall back on, and the
/// saver of its configuration.
pub struct LocalCopy {
    pub credentials: Arc<RwLock<Credentials>>,
    saver: Saver,
}

impl LocalCopy {
    pub fn new(dir: &Path, credentials: Arc<RwLock<Credentials>>) -> LocalCopy {
        LocalCopy {
            credentials,
            saver: Saver::new(dir),
        }
    }

    /// Tokens may have come or gone: reads the store's again (kept as they were if it fails).
    pub async fn refresh_credentials(&self, store: &Arc<dyn store::Store>) {
        let s = store.clone();
        if let Ok(Ok(fresh)) = tokio::task::spawn_blocking(move || s.credentials()).await {
            *self.credentials.write().unwrap_or_else(|e| e.into_inner()) = fresh;
        }
    }

    /// Saves what the node serves, unless saved already or saved under a second ago.
    pub async fn save(&mut self, snapshot: &Snapshot, local: &LocalAddresses) {
        self.saver.save(snapshot, local, &self.credentials).await;
    }
}
