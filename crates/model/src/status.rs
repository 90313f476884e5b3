//! The live state of an app's listeners, as the data plane reports it and the API shows it.

use crate::Transport;
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use std::net::SocketAddr;

/// One edge socket of an app: bound, or the error binding it failed with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerStatus {
    pub address: SocketAddr,
    pub transport: Transport,
    pub error: Option<String>,
}

impl Serialize for ListenerStatus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("address", &self.address.to_string())?;
        map.serialize_entry("transport", &self.transport)?;
        match &self.error {
            None => map.serialize_entry("state", "bound")?,
            Some(error) => {
                map.serialize_entry("state", "error")?;
                map.serialize_entry("error", error)?;
            }
        }
        map.end()
    }
}

/// What the data plane tells the API about apps' listeners.
pub trait StatusSource: Send + Sync {
    /// The app's listeners, sorted by address; empty when the data plane has not started it.
    fn listeners(&self, app_id: &str) -> Vec<ListenerStatus>;
}
