//! The stores under test: SQLite in a temporary directory, and PostgreSQL in a fresh database
//! of the cluster `scripts/test` starts (its URL in `SPECTRA_TEST_POSTGRES`).
#![allow(dead_code)]

use store::{PgStore, SqliteStore, Store};

pub enum Backend {
    Sqlite(tempfile::TempDir),
    Postgres(String),
}

impl Backend {
    pub fn sqlite() -> Backend {
        Backend::Sqlite(tempfile::tempdir().unwrap())
    }

    /// A new, empty database on the test cluster; `None` outside CI when there is no cluster.
    /// In CI (`CI` set) a missing cluster fails the test: these tests are never skipped there.
    pub fn postgres() -> Option<Backend> {
        let Ok(admin) = std::env::var("SPECTRA_TEST_POSTGRES") else {
            assert!(
                std::env::var_os("CI").is_none(),
                "SPECTRA_TEST_POSTGRES is not set: scripts/test starts a PostgreSQL cluster for these tests"
            );
            eprintln!("SPECTRA_TEST_POSTGRES is not set: PostgreSQL tests not run (scripts/test runs them)");
            return None;
        };
        Some(Backend::Postgres(fresh_database(&admin)))
    }

    /// Everything the store keeps, as bytes: its files, or its tables' rows as text.
    pub fn raw_contents(&self) -> Vec<u8> {
        match self {
            Backend::Sqlite(dir) => ["spectra.db", "spectra.db-wal"]
                .iter()
                .flat_map(|f| std::fs::read(dir.path().join(f)).unwrap_or_default())
                .collect(),
            Backend::Postgres(url) => {
                let rows = run(async {
                    let client = connect(url).await;
                    let mut out = String::new();
                    for table in ["tokens", "users", "zones", "apps", "meta"] {
                        let sql = format!("SELECT t::text FROM {table} t");
                        for row in client.query(&sql, &[]).await.unwrap() {
                            out.push_str(row.get::<_, &str>(0));
                        }
                    }
                    out
                });
                rows.into_bytes()
            }
        }
    }

    pub fn open(&self) -> Box<dyn Store> {
        match self {
            Backend::Sqlite(dir) => Box::new(SqliteStore::open(dir.path()).unwrap()),
            Backend::Postgres(url) => Box::new(PgStore::connect(url).unwrap()),
        }
    }
}

/// Creates a database with a random name on the cluster at `admin` and returns its URL.
pub fn fresh_database(admin: &str) -> String {
    let name = format!("t{:016x}", rand_u64());
    run(async {
        connect(admin)
            .await
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
    });
    let (base, _) = admin.rsplit_once('/').expect("a URL with a database");
    format!("{base}/{name}")
}

fn run<T>(work: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(work)
}

async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("the test cluster answers");
    tokio::spawn(connection);
    client
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now())
}

/// One test per backend: `NAME::sqlite` and `NAME::postgres` run `NAME(&Backend)`.
#[macro_export]
macro_rules! both {
    ($name:ident) => {
        mod $name {
            #[test]
            fn sqlite() {
                super::$name(&$crate::common::Backend::sqlite());
            }

            #[test]
            fn postgres() {
                if let Some(backend) = $crate::common::Backend::postgres() {
                    super::$name(&backend);
                }
            }
        }
    };
}

pub fn config(name: &str, port: u16) -> model::AppConfig {
    model::AppConfig::from_json(serde_json::json!({
        "protocol": format!("tcp/{port}"),
        "dns": {"type": "CNAME", "name": name},
        "origin_direct": [format!("tcp://127.0.0.1:{port}")],
    }))
    .unwrap()
}

pub fn rule_fields(mode: &str, target: &str, value: &str) -> model::RuleFields {
    model::RuleFields::from_json(
        &serde_json::json!({"mode": mode, "configuration": {"target": target, "value": value}}),
    )
    .unwrap()
}
