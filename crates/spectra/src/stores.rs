//! Opening the store a command names: PostgreSQL by URL (`--store`), else SQLite in the data dir.

use anyhow::Context;
use std::path::Path;
use store::{PgStore, SqliteStore, Store};

/// Whether `store` names a PostgreSQL database.
fn is_postgres(store: &str) -> bool {
    store.starts_with("postgres://") || store.starts_with("postgresql://")
}

/// The store at `store` (a PostgreSQL URL), or SQLite in `data_dir` without one. Blocking.
pub fn open(store: Option<&str>, data_dir: &Path) -> anyhow::Result<Box<dyn Store>> {
    match store {
        Some(url) if is_postgres(url) => Ok(Box::new(
            // The URL may hold a password: it is not repeated in the message.
            PgStore::connect(url).context("cannot open the PostgreSQL store given with --store")?,
        )),
        Some(_) => anyhow::bail!(
            "--store takes a PostgreSQL URL (postgres://USER:PASSWORD@HOST:PORT/DB); without it the store is SQLite in --data-dir"
        ),
        None => Ok(Box::new(SqliteStore::open(data_dir).with_context(|| {
            format!("cannot open the store in {}", data_dir.display())
        })?)),
    }
}
