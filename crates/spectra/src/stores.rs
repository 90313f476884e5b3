//! Opening the store a command names: PostgreSQL by URL (`--store`), else SQLite in the data
//! dir; and `spectra store copy`, which moves a node's store into a fleet's.

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

#[derive(clap::Subcommand)]
pub enum StoreCommand {
    /// Copy every zone, app, token, user and access rule (ids, timestamps and secret hashes as
    /// they are) from one store into another; what the target has already is kept, so running
    /// it twice is safe.
    Copy {
        /// The source: a data dir (its SQLite store) or a PostgreSQL URL.
        #[arg(long)]
        from: String,
        /// The target: a PostgreSQL URL or a data dir.
        #[arg(long)]
        to: String,
    },
}

/// A data dir or a PostgreSQL URL, opened.
fn open_either(store: &str) -> anyhow::Result<Box<dyn Store>> {
    if is_postgres(store) {
        open(Some(store), Path::new(""))
    } else {
        open(None, Path::new(store))
    }
}

pub fn run(cmd: StoreCommand) -> anyhow::Result<()> {
    match cmd {
        StoreCommand::Copy { from, to } => {
            let dump = open_either(&from)?
                .export()
                .context("cannot read the source store")?;
            let added = open_either(&to)?
                .import(&dump)
                .context("cannot write the target store")?;
            println!(
                "copied {} zones, {} apps, {} tokens, {} users, {} access rules, {} certificates ({} rows were there already)",
                added.zones,
                added.apps,
                added.tokens,
                added.users,
                added.access_rules,
                added.certificates,
                dump.zones.len() + dump.apps.len() + dump.tokens.len() + dump.users.len()
                    + dump.access_rules.len()
                    + dump.certificates.len()
                    - added.total()
            );
            Ok(())
        }
    }
}
