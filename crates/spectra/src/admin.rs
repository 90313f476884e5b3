//! `spectra zone|token|user`: administration straight on the store in `--data-dir`, safe while `serve` runs.

use crate::DataDir;
use anyhow::bail;
use clap::Subcommand;
use model::{Permission, Zone};
use store::Store;

#[derive(Subcommand)]
pub enum ZoneCommand {
    /// Create a zone; prints its id as the last line.
    Create {
        /// The zone's name (example.com).
        name: String,
        #[command(flatten)]
        data_dir: DataDir,
    },
    /// List zones.
    List {
        #[command(flatten)]
        data_dir: DataDir,
    },
    /// Delete a zone (by name or id) and every app in it.
    Delete {
        /// The zone: its name or id.
        zone: String,
        #[command(flatten)]
        data_dir: DataDir,
    },
}

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Create an API token; prints its secret as the last line (it is not stored, only its hash).
    Create {
        /// A label for the token.
        #[arg(long, default_value = "spectra token")]
        name: String,
        /// zone-settings-read, zone-settings-write, analytics-read, zone-write, ssl-certificates-read
        /// or ssl-certificates-write; repeatable.
        #[arg(long = "permission", required = true, value_parser = parse_permission)]
        permissions: Vec<Permission>,
        /// A zone (name or id) the token covers; repeatable. Without it: every zone.
        #[arg(long = "zone")]
        zones: Vec<String>,
        #[command(flatten)]
        data_dir: DataDir,
    },
    /// List API tokens.
    List {
        #[command(flatten)]
        data_dir: DataDir,
    },
    /// Revoke an API token by id; it stops working at once.
    Revoke {
        /// The token's id (from `spectra token list`).
        id: String,
        #[command(flatten)]
        data_dir: DataDir,
    },
}

#[derive(Subcommand)]
pub enum NodeCommand {
    /// List the nodes that share this store: when each was last heard from, and which are
    /// stale (no heartbeat for 15 s).
    List {
        #[command(flatten)]
        data_dir: DataDir,
    },
}

pub fn node(cmd: NodeCommand) -> anyhow::Result<()> {
    match cmd {
        NodeCommand::List { data_dir } => {
            let now = chrono::Utc::now();
            println!(
                "{:<24}  {:<4}  {:<8}  {:<27}  {:<5}  LISTENERS",
                "NAME", "COLO", "VERSION", "LAST SEEN", "STATE"
            );
            for n in open(&data_dir)?.nodes()? {
                let listeners: usize = n.listeners.values().map(Vec::len).sum();
                let state = if n.is_stale(now) { "stale" } else { "live" };
                println!(
                    "{:<24}  {:<4}  {:<8}  {:<27}  {:<5}  {listeners}",
                    n.name,
                    n.colo,
                    n.version,
                    model::timestamp(n.last_seen),
                    state
                );
            }
        }
    }
    Ok(())
}

#[derive(Subcommand)]
pub enum UserCommand {
    /// Create a user; prints their global API key (for X-Auth-Key) as the last line.
    Create {
        /// The user's email, their name for X-Auth-Email.
        email: String,
        #[command(flatten)]
        data_dir: DataDir,
    },
}

fn parse_permission(text: &str) -> Result<Permission, String> {
    Permission::parse_field(text, "--permission").map_err(|e| e.message)
}

fn open(data_dir: &DataDir) -> anyhow::Result<Box<dyn Store>> {
    data_dir.open()
}

/// A zone given by id or by name.
fn find_zone(store: &dyn Store, zone: &str) -> anyhow::Result<Zone> {
    let found = if model::is_identifier(zone) {
        store.zone(zone)?
    } else {
        None
    };
    match found.or(store.zone_by_name(zone)?) {
        Some(z) => Ok(z),
        None => {
            bail!("no zone {zone:?} (give a zone name or its 32-hex id; see `spectra zone list`)")
        }
    }
}

pub fn zone(cmd: ZoneCommand) -> anyhow::Result<()> {
    match cmd {
        ZoneCommand::Create { name, data_dir } => {
            let name = model::normalize_zone_name(&name).map_err(|e| anyhow::anyhow!(e.message))?;
            let zone = open(&data_dir)?.create_zone(&name)?;
            println!("created zone {}", zone.name);
            println!("{}", zone.id);
        }
        ZoneCommand::List { data_dir } => {
            println!("{:<32}  {:<30}  CREATED", "ID", "NAME");
            for z in open(&data_dir)?.list_zones()? {
                println!(
                    "{:<32}  {:<30}  {}",
                    z.id,
                    z.name,
                    model::timestamp(z.created_on)
                );
            }
        }
        ZoneCommand::Delete { zone, data_dir } => {
            let store = open(&data_dir)?;
            let z = find_zone(&*store, &zone)?;
            store.delete_zone(&z.id)?;
            println!("deleted zone {} ({}) and its apps", z.name, z.id);
        }
    }
    Ok(())
}

pub fn token(cmd: TokenCommand) -> anyhow::Result<()> {
    match cmd {
        TokenCommand::Create {
            name,
            permissions,
            zones,
            data_dir,
        } => {
            let store = open(&data_dir)?;
            let zone_ids = zones
                .iter()
                .map(|z| find_zone(&*store, z).map(|z| z.id))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let scope = (!zone_ids.is_empty()).then_some(zone_ids.as_slice());
            let (token, secret) = store.create_token(&name, &permissions, scope)?;
            println!("created token {} ({})", token.id, describe(&token));
            println!("{secret}");
        }
        TokenCommand::List { data_dir } => {
            println!(
                "{:<32}  {:<8}  {:<20}  PERMISSIONS / ZONES",
                "ID", "STATUS", "NAME"
            );
            for t in open(&data_dir)?.list_tokens()? {
                let status = if t.revoked { "revoked" } else { "active" };
                println!(
                    "{:<32}  {:<8}  {:<20}  {}",
                    t.id,
                    status,
                    t.name,
                    describe(&t)
                );
            }
        }
        TokenCommand::Revoke { id, data_dir } => {
            if !open(&data_dir)?.revoke_token(&id)? {
                bail!("no active token {id:?} (see `spectra token list`)");
            }
            println!("revoked token {id}");
        }
    }
    Ok(())
}

fn describe(token: &model::Token) -> String {
    let permissions: Vec<&str> = token.permissions.iter().map(|p| p.as_str()).collect();
    let zones = token
        .zones
        .as_ref()
        .map_or_else(|| "all zones".to_owned(), |z| z.join(","));
    format!("{} on {zones}", permissions.join(","))
}

pub fn user(cmd: UserCommand) -> anyhow::Result<()> {
    match cmd {
        UserCommand::Create { email, data_dir } => {
            if !email.contains('@') || email.trim() != email {
                bail!("{email:?} is not an email address");
            }
            let (user, key) = open(&data_dir)?.create_user(&email)?;
            println!("created user {} ({}); global API key:", user.email, user.id);
            println!("{key}");
        }
    }
    Ok(())
}
