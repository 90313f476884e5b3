//! A data plane fed by hand-made snapshots, and origins run inside the test, all on loopback.

#![allow(dead_code)]

pub mod dns_server;
pub mod geo_db;
pub mod udp_kit;

use model::{App, AppConfig, Snapshot};
use proxy::{DataPlane, Options, StatusBoard};
use serde_json::Value;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub struct Edge {
    published: watch::Sender<Arc<Snapshot>>,
    applied: watch::Receiver<u64>,
    pub status: Arc<StatusBoard>,
    pub counters: Arc<proxy::Counters>,
    pub shutdown: CancellationToken,
    pub task: Option<JoinHandle<()>>,
}

impl Edge {
    pub fn start(options: Options) -> Edge {
        Self::start_with_log(options, None)
    }

    pub fn start_with_log(options: Options, log: Option<proxy::AccessLog>) -> Edge {
        let plane = DataPlane::new(options, log, None).unwrap();
        let status = plane.status();
        let counters = plane.counters();
        let applied = plane.applied();
        let (published, snapshots) = watch::channel(Arc::new(Snapshot::default()));
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(plane.run(snapshots, shutdown.clone()));
        Edge {
            published,
            applied,
            status,
            counters,
            shutdown,
            task: Some(task),
        }
    }

    /// Publishes a snapshot holding exactly `apps`, and waits until each listener is bound.
    pub async fn publish(&self, apps: &[&App]) {
        self.publish_with_rules(apps, &[]).await
    }

    /// Like `publish`, with these access rules (grouped by their zones).
    pub async fn publish_with_rules(&self, apps: &[&App], rules: &[model::AccessRule]) {
        let revision = self.published.borrow().revision + 1;
        let mut access_rules = std::collections::BTreeMap::<String, Vec<_>>::new();
        for rule in rules {
            access_rules
                .entry(rule.zone_id.clone())
                .or_default()
                .push(rule.clone());
        }
        let snapshot = Snapshot {
            revision,
            zones: Default::default(),
            apps: apps
                .iter()
                .map(|a| (a.id.clone(), Arc::new((*a).clone())))
                .collect(),
            access_rules: access_rules
                .into_iter()
                .map(|(zone, list)| (zone, Arc::new(list)))
                .collect(),
            certificates: Default::default(),
        };
        self.published.send_replace(Arc::new(snapshot));
        // Each snapshot reaches the data plane: a quick second one cannot hide the first.
        let mut applied = self.applied.clone();
        tokio::time::timeout(Duration::from_secs(5), applied.wait_for(|r| *r >= revision))
            .await
            .expect("snapshot applied in time")
            .expect("data plane running");
        for app in apps {
            let wanted = app.edge_addresses.len() * app.config.protocol.ports.count() as usize;
            for _ in 0..200 {
                let listeners = proxy_status(&self.status, &app.id);
                if listeners.len() == wanted && listeners.iter().all(|l| l.error.is_none()) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }

    pub async fn stop(mut self) {
        self.shutdown.cancel();
        self.task.take().unwrap().await.unwrap();
    }
}

pub fn proxy_status(board: &StatusBoard, app_id: &str) -> Vec<model::ListenerStatus> {
    use model::StatusSource;
    board.listeners(app_id)
}

pub fn options() -> Options {
    Options {
        connect_timeout: Duration::from_secs(2),
        drain_timeout: Duration::from_secs(1),
        // Nothing here resolves names unless a test says so; never the machine's resolver.
        resolver: Some(SocketAddr::from(([127, 0, 0, 1], 9))),
        ..Options::default()
    }
}

/// An app with the given id character, config JSON and edge addresses.
pub fn app(id: char, config: Value, edge: &[&str]) -> App {
    App::new(
        id.to_string().repeat(32),
        "0".repeat(32),
        chrono::Utc::now(),
        AppConfig::from_json(config).unwrap(),
        edge.iter().map(|a| a.parse::<IpAddr>().unwrap()).collect(),
    )
}

/// An origin that answers every connection with `tag` and then echoes what it reads.
pub async fn tagged_echo(addr: &str, tag: &'static str) -> SocketAddr {
    let listener = TcpListener::bind(addr).await.unwrap();
    let local = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                if stream.write_all(tag.as_bytes()).await.is_err() {
                    return;
                }
                let mut buf = [0u8; 4096];
                loop {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if stream.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    local
}

/// Connects, reads the origin's tag of `tag_len` bytes and returns it with the stream.
pub async fn connect_tagged(addr: SocketAddr, tag_len: usize) -> (String, TcpStream) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut tag = vec![0u8; tag_len];
    tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut tag))
        .await
        .expect("origin tag in time")
        .expect("origin tag");
    (String::from_utf8(tag).unwrap(), stream)
}

/// Writes `data` and expects it echoed back.
pub async fn echo_round(stream: &mut TcpStream, data: &[u8]) {
    stream.write_all(data).await.unwrap();
    let mut back = vec![0u8; data.len()];
    tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut back))
        .await
        .expect("echo in time")
        .expect("echo");
    assert_eq!(back, data);
}

/// Whether the peer closes the stream (EOF or reset) within `within`.
pub async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 64];
    matches!(
        tokio::time::timeout(within, stream.read(&mut buf)).await,
        Ok(Ok(0)) | Ok(Err(_))
    )
}

/// A free TCP port on `ip` (bound and released).
pub fn free_port(ip: &str) -> u16 {
    std::net::TcpListener::bind((ip, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

pub fn tcp_app(id: char, port: u16, origins: &[SocketAddr], edge: &[&str]) -> model::App {
    let origins: Vec<String> = origins.iter().map(|o| format!("tcp://{o}")).collect();
    app(
        id,
        serde_json::json!({"protocol": format!("tcp/{port}"), "dns": {"name": "t.example.com"}, "origin_direct": origins}),
        edge,
    )
}
