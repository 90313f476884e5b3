//! Running the `spectra` binary in tests: CLI commands and a `serve` on port 0.
#![allow(dead_code)]

use reqwest::StatusCode;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

#[path = "../../../store/tests/common/mod.rs"]
pub mod store_common;

pub const BIN: &str = env!("CARGO_BIN_EXE_spectra");

/// Runs a CLI command on `data_dir`; returns stdout, failing the test on a non-zero exit.
pub fn cli(data_dir: &Path, args: &[&str]) -> String {
    let out = cli_result(data_dir, args);
    assert!(out.0, "spectra {args:?} failed: {}", out.2);
    out.1
}

pub fn cli_result(data_dir: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

pub fn last_line(text: &str) -> String {
    text.lines().last().unwrap_or_default().trim().to_owned()
}

/// A running `spectra serve`, killed when dropped.
pub struct Node {
    pub child: Child,
    pub base: String,
    /// The rest of its standard output (kept open: it prints more lines, such as DNS's).
    pub stdout: BufReader<std::process::ChildStdout>,
}

impl Node {
    pub fn start(args: &[&str]) -> Node {
        let mut command = Command::new(BIN);
        command.arg("serve").args(args);
        Node::spawn(command)
    }

    /// Runs `command` (a `spectra serve ...`) and waits for its first line.
    pub fn spawn(mut command: Command) -> Node {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        stdout.read_line(&mut line).unwrap();
        let base = line
            .trim()
            .strip_prefix("Spectra API listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        Node {
            child,
            base,
            stdout,
        }
    }

    /// The address the DNS server answers on, from the line `serve` prints (after the API's).
    pub fn dns_addr(&mut self) -> SocketAddr {
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        line.trim()
            .strip_prefix("Spectra DNS listening on ")
            .unwrap_or_else(|| panic!("unexpected line {line:?}"))
            .parse()
            .unwrap()
    }

    /// A node on `data_dir` with its edge pool `v4_pool`, resolving names only on loopback.
    pub fn on(data_dir: &Path) -> Node {
        Node::with(data_dir, &[])
    }

    pub fn with(data_dir: &Path, extra: &[&str]) -> Node {
        let mut args = vec![
            "--api-listen",
            "127.0.0.1:0",
            "--data-dir",
            data_dir.to_str().unwrap(),
            // No test may query the machine's resolver; nothing listens here, and these tests
            // have no origin_dns apps.
            "--resolver",
            "127.0.0.1:9",
        ];
        args.extend_from_slice(extra);
        Node::start(&args)
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub async fn send(request: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let response = request.send().await.unwrap();
    (response.status(), response.json().await.unwrap())
}

/// A zone `example.com` and a token with Zone Write and Zone Settings Write on `dir`'s store.
pub fn zone_and_token(dir: &std::path::Path) -> (String, String) {
    zone_and_token_with(dir, &[])
}

/// The same, on the store `extra` names (`--store URL`), or `dir`'s without.
pub fn zone_and_token_with(dir: &std::path::Path, extra: &[&str]) -> (String, String) {
    let zone = last_line(&cli(
        dir,
        &[&["zone", "create", "example.com"][..], extra].concat(),
    ));
    let permissions = [
        "--permission",
        "zone-settings-write",
        "--permission",
        "zone-write",
    ];
    let token = last_line(&cli(
        dir,
        &[&["token", "create"][..], &permissions, extra].concat(),
    ));
    (zone, token)
}

/// A new database on the PostgreSQL test cluster; `None` where those tests do not run.
pub async fn postgres_database() -> Option<String> {
    match tokio::task::spawn_blocking(store_common::Backend::postgres)
        .await
        .unwrap()
    {
        Some(store_common::Backend::Postgres(url)) => Some(url),
        _ => None,
    }
}

/// How long until the peer closes `stream`, within `within`.
pub async fn closed_after(
    stream: &mut tokio::net::TcpStream,
    within: std::time::Duration,
) -> Option<std::time::Duration> {
    let started = std::time::Instant::now();
    let mut buf = [0u8; 256];
    loop {
        let left = within.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, tokio::io::AsyncReadExt::read(stream, &mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

pub async fn create_app(node: &Node, zone: &str, token: &str, app: Value) -> Value {
    let (status, body) = send(
        reqwest::Client::new()
            .post(format!("{}/zones/{zone}/spectrum/apps", node.base))
            .bearer_auth(token)
            .json(&app),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["result"].clone()
}

/// A UDP origin on loopback that echoes every datagram.
pub async fn udp_echo() -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 2048];
        while let Ok((n, from)) = socket.recv_from(&mut buf).await {
            let _ = socket.send_to(&buf[..n], from).await;
        }
    });
    addr
}

/// An origin on `addr` that sends `tag` and then echoes.
pub async fn tagged(addr: &str, tag: &'static [u8]) -> SocketAddr {
    let listener = TcpListener::bind(addr).await.unwrap();
    let local = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let _ = s.write_all(tag).await;
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    local
}

/// The tag an edge address answers with, retrying for up to 2 s while the app comes up.
pub async fn tag_at(edge: SocketAddr) -> Option<u8> {
    for _ in 0..100 {
        if let Ok(mut s) = TcpStream::connect(edge).await {
            let mut tag = [0u8; 1];
            if let Ok(Ok(1)) = tokio::time::timeout(Duration::from_secs(1), s.read(&mut tag)).await
            {
                return Some(tag[0]);
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}
