//! TLS to the database: with `sslmode=verify-full` (or `require`) the store speaks TLS and
//! checks the server's certificate against `sslrootcert`; a server without TLS, or with a
//! certificate from another CA, is refused.

mod common;

use common::Backend;
use std::path::Path;
use store::{PgStore, Store};

/// A CA, and a certificate for 127.0.0.1 it signed; as PEM (CA, leaf, leaf key).
fn ca_and_server() -> (String, String, String) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.subject_alt_names = vec![rcgen::SanType::IpAddress([127, 0, 0, 1].into())];
    let leaf = params.signed_by(&key, &issuer).unwrap();
    (ca.pem(), leaf.pem(), key.serialize_pem())
}

/// A cluster of the test's own, with TLS; stopped when dropped.
struct TlsCluster {
    url: String,
    dir: String,
}

fn pg_cluster(args: &[&str], env: &[(&str, &Path)]) -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/pg-cluster");
    let mut command = std::process::Command::new(script);
    command.args(args);
    for (k, v) in env {
        command.env(k, v);
    }
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

impl Drop for TlsCluster {
    fn drop(&mut self) {
        pg_cluster(&["stop", &self.dir], &[]);
    }
}

#[test]
fn the_store_speaks_tls_when_the_url_asks_and_checks_the_certificate() {
    // Only where the PostgreSQL tests run (always in CI).
    let Some(Backend::Postgres(plain_url)) = Backend::postgres() else {
        return;
    };
    let files = tempfile::tempdir().unwrap();
    let (ca, cert, key) = ca_and_server();
    let (other_ca, _, _) = ca_and_server();
    for (name, pem) in [
        ("ca.pem", &ca),
        ("other.pem", &other_ca),
        ("server.crt", &cert),
        ("server.key", &key),
    ] {
        std::fs::write(files.path().join(name), pem).unwrap();
    }
    let out = pg_cluster(
        &["start"],
        &[
            ("PG_TLS_CERT", &files.path().join("server.crt")),
            ("PG_TLS_KEY", &files.path().join("server.key")),
        ],
    );
    let (url, dir) = out.trim().split_once(' ').unwrap();
    let cluster = TlsCluster {
        url: url.to_owned(),
        dir: dir.to_owned(),
    };
    let root = |file: &str| files.path().join(file).display().to_string();

    let verified = format!(
        "{}?sslmode=verify-full&sslrootcert={}",
        cluster.url,
        root("ca.pem")
    );
    let store = PgStore::connect(&verified).expect("TLS with the right CA");
    store.create_zone("example.com").unwrap();
    let require = format!(
        "{}?sslmode=require&sslrootcert={}",
        cluster.url,
        root("ca.pem")
    );
    assert_eq!(
        PgStore::connect(&require)
            .unwrap()
            .list_zones()
            .unwrap()
            .len(),
        1
    );

    let wrong = format!(
        "{}?sslmode=verify-full&sslrootcert={}",
        cluster.url,
        root("other.pem")
    );
    // A node starts while its database cannot be reached; every request then fails.
    let refused = |url: &str| PgStore::connect(url).and_then(|s| s.list_zones()).is_err();
    assert!(refused(&wrong), "a certificate from another CA is refused");
    let no_tls_server = format!("{plain_url}?sslmode=require");
    assert!(refused(&no_tls_server), "a server without TLS is refused");
    drop(store);
    drop(cluster);
}
