//! The connection log line of a TCP connection (plain, TLS or HTTP), in Cloudflare's Spectrum
//! event fields.

use crate::runtime::context::{AppShared, Settings};
use crate::telemetry::access_log::{log_time, ConnectionEvent};
use crate::telemetry::outcome::Outcome;
use chrono::{DateTime, Utc};
use std::net::SocketAddr;

/// Writes the connection log line of a TCP connection, when the log is on.
pub(crate) fn log(
    app: &AppShared,
    settings: &Settings,
    peer: SocketAddr,
    connected_at: DateTime<Utc>,
    outcome: Outcome,
) {
    let Some(log) = &app.node.access_log else {
        return;
    };
    let (event, status, origin, client_bytes, origin_bytes) = outcome;
    let now = Utc::now();
    log.write(&ConnectionEvent {
        timestamp: log_time(now),
        event,
        application: app.id.clone(),
        colo_code: app.node.options.colo.clone(),
        client_ip: peer.ip(),
        client_port: peer.port(),
        client_proto: "tcp",
        client_bytes,
        origin_ip: origin.map(|o| o.ip()),
        origin_port: origin.map(|o| o.port()),
        origin_proto: "tcp",
        origin_bytes,
        client_packets: None,
        origin_packets: None,
        connect_timestamp: log_time(connected_at),
        disconnect_timestamp: log_time(now),
        ip_protocol: 6,
        proxy_protocol: settings.app.config.proxy_protocol.as_str(),
        status,
    });
}
