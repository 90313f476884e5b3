//! A node of a fleet as its heartbeats describe it: who it is, its edge pools, and the state of
//! every listener, by app. Stored as JSON; `stale` once no heartbeat came for `STALE_AFTER`.

use crate::{ListenerStatus, Transport};
use chrono::{DateTime, Utc};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// How often a node reports itself.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(3);
/// A node not heard from for this long is stale: its listeners are no longer counted.
pub const STALE_AFTER: Duration = Duration::from_secs(15);

/// One listener, as a heartbeat carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeListener {
    pub address: SocketAddr,
    pub transport: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl From<&ListenerStatus> for NodeListener {
    fn from(l: &ListenerStatus) -> Self {
        NodeListener {
            address: l.address,
            transport: l.transport.as_str().to_owned(),
            error: l.error.clone(),
        }
    }
}

impl NodeListener {
    /// The listener as the API shows it.
    pub fn status(&self) -> ListenerStatus {
        ListenerStatus {
            address: self.address,
            transport: if self.transport == "udp" {
                Transport::Udp
            } else {
                Transport::Tcp
            },
            error: self.error.clone(),
        }
    }
}

/// A node's last heartbeat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    pub name: String,
    pub colo: String,
    pub version: String,
    pub edge_pools: Vec<IpNet>,
    pub started_on: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// Each app's listeners on this node, by app id.
    pub listeners: BTreeMap<String, Vec<NodeListener>>,
}

impl Node {
    pub fn is_stale(&self, now: DateTime<Utc>) -> bool {
        now.signed_duration_since(self.last_seen)
            .to_std()
            .is_ok_and(|quiet| quiet > STALE_AFTER)
    }

    /// The edge addresses `app_id` listens on here.
    pub fn edge_ips(&self, app_id: &str) -> Vec<IpAddr> {
        let mut ips: Vec<IpAddr> = self
            .listeners
            .get(app_id)
            .map(|l| l.iter().map(|l| l.address.ip()).collect())
            .unwrap_or_default();
        ips.sort();
        ips.dedup();
        ips
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(last_seen: DateTime<Utc>) -> Node {
        let mut listeners = BTreeMap::new();
        listeners.insert(
            "a".repeat(32),
            vec![
                NodeListener {
                    address: "127.0.1.2:22".parse().unwrap(),
                    transport: "tcp".into(),
                    error: None,
                },
                NodeListener {
                    address: "127.0.1.2:23".parse().unwrap(),
                    transport: "tcp".into(),
                    error: Some("in use".into()),
                },
                NodeListener {
                    address: "[::1]:22".parse().unwrap(),
                    transport: "udp".into(),
                    error: None,
                },
            ],
        );
        Node {
            name: "n1".into(),
            colo: "AMS".into(),
            version: "0.1.0".into(),
            edge_pools: vec!["127.0.1.0/24".parse().unwrap()],
            started_on: last_seen,
            last_seen,
            listeners,
        }
    }

    #[test]
    fn a_node_reads_back_and_goes_stale_after_fifteen_seconds() {
        let t = Utc::now();
        let n = node(t);
        let json = serde_json::to_string(&n).unwrap();
        assert_eq!(serde_json::from_str::<Node>(&json).unwrap(), n);
        assert!(!n.is_stale(t + chrono::Duration::seconds(15)));
        assert!(n.is_stale(t + chrono::Duration::seconds(16)));
        assert!(
            !n.is_stale(t - chrono::Duration::seconds(60)),
            "a clock behind is not staleness"
        );
        let app = "a".repeat(32);
        assert_eq!(
            n.edge_ips(&app),
            [
                "127.0.1.2".parse::<IpAddr>().unwrap(),
                "::1".parse().unwrap()
            ]
        );
        assert!(n.edge_ips("other").is_empty());
        let statuses: Vec<ListenerStatus> =
            n.listeners[&app].iter().map(NodeListener::status).collect();
        assert_eq!(statuses[2].transport, Transport::Udp);
        assert_eq!(statuses[1].error.as_deref(), Some("in use"));
    }
}
