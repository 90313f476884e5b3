//! What one client connection of an `http` or `https` app shares among its requests: the app,
//! the client, where its origin connections come from, and a pending upgrade.

use super::pool::Pool;
use crate::runtime::context::{AppShared, Settings};
use hyper::upgrade::OnUpgrade;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// One client connection's requests.
pub(crate) struct Exchange {
    pub settings: Arc<Settings>,
    pub app: Arc<AppShared>,
    pub peer: SocketAddr,
    pub edge: SocketAddr,
    /// With PROXY headers, origin connections belong to this client alone.
    pub private: Option<Arc<Pool>>,
    /// An upgrade both sides agreed to: relayed once the connection hands the sockets over.
    pub upgraded: Mutex<Option<(OnUpgrade, OnUpgrade)>>,
    /// The origin of the last request, for the connection's log line.
    pub last_origin: Mutex<Option<SocketAddr>>,
    /// `http`, or `https` for an `https` app: `X-Forwarded-Proto`.
    pub proto: &'static str,
}

impl Exchange {
    /// Where this client's origin connections are kept: its own with PROXY headers, else the
    /// app's.
    pub fn pool(&self) -> &Arc<Pool> {
        self.private.as_ref().unwrap_or(&self.settings.http_pool)
    }
}
