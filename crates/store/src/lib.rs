//! The `Store` trait Spectra's configuration lives behind: the embedded SQLite store, and the
//! PostgreSQL store that a fleet of nodes shares.
//!
//! Every write bumps one monotonically increasing revision, so a reader can ask for everything
//! since revision N ([`Store::changes_since`]) and apply it to the [`Snapshot`] it holds.
//! Methods are blocking; async callers run them on a blocking thread.

mod analytics;
mod dump;
mod postgres;
mod rows;
mod secret;
mod sqlite;

pub use dump::{AppDump, Credentials, Dump, Imported, RuleDump, TokenDump, UserDump, ZoneDump};
pub use postgres::PgStore;
pub use sqlite::SqliteStore;

use std::net::IpAddr;

use model::{App, AppConfig, AppListQuery, Changes, Permission, Snapshot, Token, User, Zone};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The zone, app or token does not exist (any more).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The write would break a uniqueness rule; the message says which.
    #[error("{0}")]
    Conflict(String),
    #[error("database error: {0}")]
    Database(#[from] rusqlite::Error),
    #[error("database error: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    /// The store's address or options are wrong (a bad `--store` URL).
    #[error("{0}")]
    Config(String),
    /// The database cannot be reached (or the pool gave up waiting for a connection).
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("cannot prepare the data directory: {0}")]
    Io(#[from] std::io::Error),
}

impl StoreError {
    /// Whether the database could not be reached (or is shutting down), rather than refusing
    /// the request: trying again later may succeed.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Unavailable(_) => true,
            // SQLSTATE classes 08 (connection exception) and 57 (operator intervention).
            StoreError::Postgres(e) => e
                .code()
                .is_none_or(|c| c.code().starts_with("08") || c.code().starts_with("57")),
            _ => false,
        }
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// A page of apps and how many the zone has in all.
#[derive(Debug, Clone, PartialEq)]
pub struct AppPage {
    pub apps: Vec<App>,
    pub total_count: u64,
}

pub trait Store: Send + Sync + 'static {
    /// Woken when another process (another node) commits a write, for stores that can tell;
    /// `None`: the caller polls `changes_since`.
    fn changes(&self) -> Option<std::sync::Arc<tokio::sync::Notify>> {
        None
    }

    /// The revision of the last committed write (0 for a new store).
    fn revision(&self) -> Result<u64>;
    /// Every zone and app, at one revision.
    fn snapshot(&self) -> Result<Snapshot>;
    /// What changed after `revision`, up to the current one.
    fn changes_since(&self, revision: u64) -> Result<Changes>;

    /// Fails with `Conflict` when a zone of that name exists.
    fn create_zone(&self, name: &str) -> Result<Zone>;
    fn zone(&self, id: &str) -> Result<Option<Zone>>;
    fn zone_by_name(&self, name: &str) -> Result<Option<Zone>>;
    fn list_zones(&self) -> Result<Vec<Zone>>;
    /// Deletes the zone and all its apps; false when there was no such zone.
    fn delete_zone(&self, id: &str) -> Result<bool>;

    fn app(&self, zone_id: &str, app_id: &str) -> Result<Option<App>>;
    fn list_apps(&self, zone_id: &str, query: &AppListQuery) -> Result<AppPage>;
    /// Stores a new app listening on `edge_addresses`. Fails with `NotFound("zone")` when the
    /// zone is gone.
    fn create_app(
        &self,
        zone_id: &str,
        config: &AppConfig,
        edge_addresses: &[IpAddr],
    ) -> Result<App>;
    /// Replaces the whole config and edge addresses, keeps `created_on`. Fails with
    /// `NotFound("app")`.
    fn update_app(
        &self,
        zone_id: &str,
        app_id: &str,
        config: &AppConfig,
        edge_addresses: &[IpAddr],
    ) -> Result<App>;
    fn delete_app(&self, zone_id: &str, app_id: &str) -> Result<bool>;

    /// A zone's IP Access Rules, oldest first.
    fn access_rules(&self, zone_id: &str) -> Result<Vec<model::AccessRule>>;
    fn access_rule(&self, zone_id: &str, id: &str) -> Result<Option<model::AccessRule>>;
    /// Fails with `Conflict` when the zone has a rule on the same target and value.
    fn create_access_rule(
        &self,
        zone_id: &str,
        fields: &model::RuleFields,
    ) -> Result<model::AccessRule>;
    /// `None` when there is no such rule.
    fn update_access_rule(
        &self,
        zone_id: &str,
        id: &str,
        fields: &model::RuleFields,
    ) -> Result<Option<model::AccessRule>>;
    fn delete_access_rule(&self, zone_id: &str, id: &str) -> Result<bool>;

    /// A zone's custom certificates, oldest first (with their private keys: for the data plane;
    /// the API never shows them).
    fn certificates(&self, zone_id: &str) -> Result<Vec<model::Certificate>>;
    fn certificate(&self, zone_id: &str, id: &str) -> Result<Option<model::Certificate>>;
    /// Fails with `NotFound("zone")` when the zone is gone.
    fn create_certificate(
        &self,
        zone_id: &str,
        fields: &model::CertificateFields,
    ) -> Result<model::Certificate>;
    /// `None` when there is no such certificate.
    fn update_certificate(
        &self,
        zone_id: &str,
        id: &str,
        fields: &model::CertificateFields,
    ) -> Result<Option<model::Certificate>>;
    fn delete_certificate(&self, zone_id: &str, id: &str) -> Result<bool>;

    /// Returns the token and its secret, which is not stored and cannot be shown again.
    fn create_token(
        &self,
        name: &str,
        permissions: &[Permission],
        zones: Option<&[String]>,
    ) -> Result<(Token, String)>;
    fn list_tokens(&self) -> Result<Vec<Token>>;
    fn revoke_token(&self, id: &str) -> Result<bool>;
    /// The token whose secret this is, revoked or not.
    fn token_by_secret(&self, secret: &str) -> Result<Option<Token>>;

    /// Returns the user and their global API key, which is not stored and cannot be shown again.
    fn create_user(&self, email: &str) -> Result<(User, String)>;

    /// Records a node's heartbeat. Not a configuration change: it takes no revision.
    fn heartbeat(&self, node: &model::Node) -> Result<()>;
    /// The last heartbeat of every node that ever sent one, by name.
    fn nodes(&self) -> Result<Vec<model::Node>>;

    /// A node's own addresses for apps another node created (see `model::localize`).
    fn node_addresses(&self, node: &str) -> Result<model::LocalAddresses>;
    /// Stores (`Some`) or forgets (`None`) some of a node's own addresses.
    fn save_node_addresses(&self, node: &str, changes: &[model::LocalChange]) -> Result<()>;

    /// Every token and user, as stored (secrets as their hashes).
    fn credentials(&self) -> Result<Credentials>;
    /// Whether answers come from a copy because the store cannot be reached: the note to
    /// give clients, if so.
    fn degraded(&self) -> Option<String> {
        None
    }

    /// Every row, as stored (secrets as their hashes).
    fn export(&self) -> Result<Dump>;
    /// Adds the rows of `dump` this store lacks (by id), all at one new revision, and keeps
    /// the rest: running it twice adds nothing the second time. A zone or user whose name is
    /// taken by another id is a `Conflict`, and nothing is written.
    fn import(&self, dump: &Dump) -> Result<Imported>;
    /// The user, if the email exists and the key is theirs.
    fn user_by_key(&self, email: &str, key: &str) -> Result<Option<User>>;

    /// Writes `node`'s aggregates of `rows`, replacing its earlier copies of the same minutes
    /// and series (outside the revision: analytics are not configuration).
    fn save_analytics(&self, node: &str, rows: &[model::analytics::MinuteRow]) -> Result<()>;
    /// Every node's minutes of `zone_id` from `since` (inclusive) to `until` (exclusive), unix
    /// seconds, with the name of the node that wrote each.
    fn analytics(
        &self,
        zone_id: &str,
        since: i64,
        until: i64,
    ) -> Result<Vec<(String, model::analytics::MinuteRow)>>;
    /// Deletes every minute before `before` (unix seconds); returns how many rows went.
    fn prune_analytics(&self, before: i64) -> Result<u64>;
}
