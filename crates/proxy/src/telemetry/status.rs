//! The board where listeners report whether they are bound, read by the API's status extension.

use model::{ListenerStatus, StatusSource, Transport};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// One app's listeners, by address and transport.
type Listeners = BTreeMap<(SocketAddr, &'static str), ListenerStatus>;

#[derive(Default)]
pub struct StatusBoard {
    apps: Mutex<HashMap<String, Listeners>>,
    /// Bumped on every change, so readers rebuild only when something moved.
    generation: AtomicU64,
}

impl StatusBoard {
    pub fn set(
        &self,
        app_id: &str,
        address: SocketAddr,
        transport: Transport,
        error: Option<String>,
    ) {
        let mut apps = self.apps.lock().unwrap_or_else(|e| e.into_inner());
        self.generation.fetch_add(1, Ordering::Release);
        apps.entry(app_id.to_owned()).or_default().insert(
            (address, transport.as_str()),
            ListenerStatus {
                address,
                transport,
                error,
            },
        );
    }

    pub fn remove_listener(&self, app_id: &str, address: SocketAddr, transport: Transport) {
        let mut apps = self.apps.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(listeners) = apps.get_mut(app_id) {
            listeners.remove(&(address, transport.as_str()));
            self.generation.fetch_add(1, Ordering::Release);
        }
    }

    /// Every app's listeners, by app id.
    pub fn all(&self) -> BTreeMap<String, Vec<ListenerStatus>> {
        let apps = self.apps.lock().unwrap_or_else(|e| e.into_inner());
        apps.iter()
            .map(|(id, l)| (id.clone(), l.values().cloned().collect()))
            .collect()
    }

    pub fn remove_app(&self, app_id: &str) {
        let mut apps = self.apps.lock().unwrap_or_else(|e| e.into_inner());
        if apps.remove(app_id).is_some() {
            self.generation.fetch_add(1, Ordering::Release);
        }
    }

    /// A number that changes whenever a listener does.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }
}

impl StatusSource for StatusBoard {
    fn listeners(&self, app_id: &str) -> Vec<ListenerStatus> {
        let apps = self.apps.lock().unwrap_or_else(|e| e.into_inner());
        apps.get(app_id)
            .map(|l| l.values().cloned().collect())
            .unwrap_or_default()
    }
}
