//! The JSON-lines connection log, one line per connection close, in the field names of
//! Cloudflare's Logpush `spectrum_events` dataset.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use std::io::{self, Write};
use std::net::IpAddr;
use std::path::Path;
use tokio::sync::mpsc;

/// One connection's (or UDP flow's) event. Times are RFC 3339 with nanoseconds.
#[derive(Debug, Serialize)]
pub struct ConnectionEvent {
    #[serde(rename = "Timestamp")]
    pub timestamp: String,
    /// `disconnect`, or `originError` when no origin could be reached.
    #[serde(rename = "Event")]
    pub event: &'static str,
    #[serde(rename = "Application")]
    pub application: String,
    #[serde(rename = "ColoCode")]
    pub colo_code: String,
    #[serde(rename = "ClientIP")]
    pub client_ip: IpAddr,
    #[serde(rename = "ClientPort")]
    pub client_port: u16,
    #[serde(rename = "ClientProto")]
    pub client_proto: &'static str,
    /// Bytes from the client to the edge.
    #[serde(rename = "ClientBytes")]
    pub client_bytes: u64,
    #[serde(rename = "OriginIP")]
    pub origin_ip: Option<IpAddr>,
    #[serde(rename = "OriginPort")]
    pub origin_port: Option<u16>,
    #[serde(rename = "OriginProto")]
    pub origin_proto: &'static str,
    /// Bytes from the origin to the edge.
    #[serde(rename = "OriginBytes")]
    pub origin_bytes: u64,
    /// UDP only: datagrams from the client.
    #[serde(rename = "ClientPackets", skip_serializing_if = "Option::is_none")]
    pub client_packets: Option<u64>,
    /// UDP only: datagrams from the origin.
    #[serde(rename = "OriginPackets", skip_serializing_if = "Option::is_none")]
    pub origin_packets: Option<u64>,
    #[serde(rename = "ConnectTimestamp")]
    pub connect_timestamp: String,
    #[serde(rename = "DisconnectTimestamp")]
    pub disconnect_timestamp: String,
    /// 6 for TCP, 17 for UDP.
    #[serde(rename = "IpProtocol")]
    pub ip_protocol: u8,
    #[serde(rename = "ProxyProtocol")]
    pub proxy_protocol: &'static str,
    /// A Cloudflare event-log status code: 200, 444, 499, 521, 522, 531, ...
    #[serde(rename = "Status")]
    pub status: u16,
}

/// One request of an `http` app: logged when its response has been sent (or abandoned).
#[derive(Debug, Serialize)]
pub struct RequestEvent {
    #[serde(rename = "Timestamp")]
    pub timestamp: String,
    /// Always `request`.
    #[serde(rename = "Event")]
    pub event: &'static str,
    #[serde(rename = "Application")]
    pub application: String,
    #[serde(rename = "ColoCode")]
    pub colo_code: String,
    #[serde(rename = "RayID")]
    pub ray_id: String,
    #[serde(rename = "ClientIP")]
    pub client_ip: IpAddr,
    #[serde(rename = "ClientRequestMethod")]
    pub method: String,
    #[serde(rename = "ClientRequestHost")]
    pub host: String,
    #[serde(rename = "ClientRequestPath")]
    pub path: String,
    #[serde(rename = "EdgeResponseStatus")]
    pub status: u16,
    /// Response body bytes sent to the client.
    #[serde(rename = "EdgeResponseBytes")]
    pub bytes: u64,
    #[serde(rename = "OriginIP", skip_serializing_if = "Option::is_none")]
    pub origin_ip: Option<IpAddr>,
    /// From the request's arrival until its response body ended.
    #[serde(rename = "DurationMs")]
    pub duration_ms: u64,
}

pub fn log_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

/// How many lines may wait for the writer before new ones are dropped (and counted).
const BACKLOG: usize = 65_536;

/// A handle to the log writer; cheap to clone. Writing never blocks a connection.
#[derive(Clone)]
pub struct AccessLog {
    lines: mpsc::Sender<String>,
}

impl AccessLog {
    /// Opens (appending; created 0640) `path` and starts the writer task, which ends when every handle is dropped.
    pub fn open(path: &Path) -> io::Result<AccessLog> {
        use std::os::unix::fs::OpenOptionsExt;
        // Client addresses are personal data: the owner writes, its group may read.
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o640)
            .open(path)?;
        let (lines, mut queue) = mpsc::channel::<String>(BACKLOG);
        let path = path.display().to_string();
        tokio::task::spawn_blocking(move || {
            let mut out = io::BufWriter::new(file);
            while let Some(line) = queue.blocking_recv() {
                let mut result = writeln!(out, "{line}");
                while let (Ok(()), Ok(more)) = (&result, queue.try_recv()) {
                    result = writeln!(out, "{more}");
                }
                if let Err(e) = result.and_then(|()| out.flush()) {
                    tracing::error!(path = %path, error = %e, "cannot write the access log");
                }
            }
        });
        Ok(AccessLog { lines })
    }

    pub fn write(&self, event: &impl Serialize) {
        match serde_json::to_string(event) {
            Ok(line) => {
                if self.lines.try_send(line).is_err() {
                    tracing::warn!("access log backlog full; a connection line was dropped");
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot encode an access log line"),
        }
    }
}
