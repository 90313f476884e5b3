//! A throwaway BIND 9 (`named` from Debian's bind9) on loopback for tests: one primary zone
//! that accepts RFC 2136 updates signed with a fresh TSIG key, in a temporary directory.
#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Bind {
    pub addr: SocketAddr,
    /// A key file (BIND's format) the server accepts.
    pub key_file: PathBuf,
    pub dir: tempfile::TempDir,
    child: Child,
}

fn named() -> Option<PathBuf> {
    ["/usr/sbin/named", "/usr/bin/named"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// A free loopback port (for both UDP and TCP, as far as a test can tell).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A random base64 secret of 32 bytes.
fn secret() -> String {
    use base64::Engine;
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A new key file's text: key "spectra-test", hmac-sha256, a random secret.
pub fn new_key() -> String {
    format!(
        "key \"spectra-test\" {{\n\talgorithm hmac-sha256;\n\tsecret \"{}\";\n}};\n",
        secret()
    )
}

impl Bind {
    /// BIND serving `zone` with `records` (zone-file lines) besides its SOA and NS, on `port`
    /// (0: a free one). `None` where BIND is not installed and CI is not set.
    pub fn start(zone: &str, records: &[&str], port: u16) -> Option<Bind> {
        Bind::start_with_key(zone, records, port, &new_key())
    }

    /// The same, accepting `key` (a key file's text, named "spectra-test").
    pub fn start_with_key(zone: &str, records: &[&str], port: u16, key: &str) -> Option<Bind> {
        let Some(named) = named() else {
            assert!(
                std::env::var_os("CI").is_none(),
                "BIND 9 (named) is not installed: .ci/run installs bind9"
            );
            eprintln!("skipped: BIND 9 (named) is not installed");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        let port = if port == 0 { free_port() } else { port };
        let key_file = dir.path().join("spectra.key");
        std::fs::write(&key_file, key).unwrap();
        let mut zone_text = format!(
            "$ORIGIN {zone}.\n@ 300 IN SOA ns1.{zone}. hostmaster.{zone}. 1 3600 600 604800 30\n@ 300 IN NS ns1.{zone}.\nns1 300 IN A 127.0.0.53\n"
        );
        for r in records {
            zone_text.push_str(r);
            zone_text.push('\n');
        }
        std::fs::write(dir.path().join("zone.db"), zone_text).unwrap();
        std::fs::write(
            dir.path().join("named.conf"),
            format!(
                r#"include "{d}/spectra.key";
options {{ directory "{d}"; pid-file "{d}/named.pid"; listen-on port {port} {{ 127.0.0.1; }};
  listen-on-v6 {{ none; }}; recursion no; dnssec-validation no; }};
controls {{ }};
zone "{zone}" {{ type primary; file "{d}/zone.db"; allow-update {{ key "spectra-test"; }}; }};
"#
            ),
        )
        .unwrap();
        let child = Command::new(named)
            .args(["-g", "-n", "1", "-c"])
            .arg(dir.path().join("named.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(dir.path().join("named.log")).unwrap(),
            ))
            .spawn()
            .unwrap();
        let bind = Bind {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            key_file,
            dir,
            child,
        };
        let started = Instant::now();
        while std::net::TcpStream::connect(bind.addr).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "named did not start: {}",
                bind.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(bind)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("named.log")).unwrap_or_default()
    }

    /// A key file with the right name and algorithm but another secret.
    pub fn wrong_key_file(&self) -> PathBuf {
        let path = self.dir.path().join("wrong.key");
        std::fs::write(&path, new_key()).unwrap();
        path
    }
}

impl Drop for Bind {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
