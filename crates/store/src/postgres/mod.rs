//! The PostgreSQL store, for a fleet of nodes on one database: tokio-postgres connections in a
//! deadpool pool, driven by a runtime of the store's own so that the `Store` trait stays
//! blocking. Every write takes the revision row's lock first, so writes from all nodes are
//! serialized and revisions are committed in order.

mod analytics;
mod certificates;
mod config;
mod dump;
mod listen;
mod schema;
mod tables;
mod url;

use crate::{Result, Store, StoreError};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;
use tokio::sync::Notify;
use tokio_postgres::Transaction;

/// Connections each node keeps to the database, at most.
const POOL_SIZE: usize = 16;
/// How long a new connection may take, unless the URL says (`connect_timeout`).
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
/// Keepalive probes find a database that vanished under an idle connection.
const KEEPALIVE_IDLE: std::time::Duration = std::time::Duration::from_secs(30);
/// How long a request waits for a free connection.
const POOL_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

pub struct PgStore {
    pool: Pool,
    /// Whether this process has brought the schema up to date (done on the first connection,
    /// so a node can start while the database is away).
    migrated: std::sync::atomic::AtomicBool,
    /// Woken when any node commits a write.
    changed: Arc<Notify>,
    /// Drives the connections; `None` only while dropping.
    runtime: Option<tokio::runtime::Runtime>,
}

fn pool_error(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/db`, with
    /// `?sslmode=verify-full&sslrootcert=FILE` for TLS) and brings its schema up to date.
    /// Blocking: call it off any async runtime's workers.
    pub fn connect(url: &str) -> Result<PgStore> {
        let url::Target { mut config, tls } = url::parse(url)?;
        // A database that does not answer fails requests in seconds, not at TCP's pace.
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        config.keepalives_idle(KEEPALIVE_IDLE);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("spectra-store")
            .enable_all()
            .build()?;
        let changed = Arc::new(Notify::new());
        let manager = Manager::from_config(
            config.clone(),
            tls.clone(),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = {
            let _entered = runtime.enter();
            Pool::builder(manager)
                .max_size(POOL_SIZE)
                .wait_timeout(Some(POOL_WAIT))
                .create_timeout(Some(CONNECT_TIMEOUT))
                .runtime(deadpool_postgres::Runtime::Tokio1)
                .build()
                .map_err(pool_error)?
        };
        let store = PgStore {
            pool,
            migrated: std::sync::atomic::AtomicBool::new(false),
            changed: changed.clone(),
            runtime: Some(runtime),
        };
        match store.block_on(store.client()) {
            Ok(_) => {}
            // Serve anyway (from the node's last snapshot); the schema is checked once the
            // database answers.
            Err(error) if error.is_unavailable() => {
                tracing::warn!(%error, "the store is unavailable at start; retrying in the background")
            }
            Err(error) => return Err(error),
        }
        if let Some(runtime) = &store.runtime {
            runtime.spawn(listen::listen(config, tls, changed));
        }
        Ok(store)
    }

    fn block_on<T>(&self, work: impl Future<Output = T>) -> T {
        self.runtime
            .as_ref()
            .expect("the runtime lives as long as the store")
            .block_on(work)
    }

    /// A pooled connection, to a database whose schema is up to date.
    async fn client(&self) -> Result<deadpool_postgres::Object> {
        use std::sync::atomic::Ordering;
        let mut client = self.pool.get().await.map_err(pool_error)?;
        if !self.migrated.load(Ordering::Acquire) {
            schema::migrate(&mut client).await?;
            self.migrated.store(true, Ordering::Release);
        }
        Ok(client)
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        // Dropping a runtime waits for its threads, which an async caller must not do.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Runs `$body` (an expression using the transaction `$tx`) in a transaction: `write` takes
/// the revision lock first and commits; `read` is one consistent snapshot.
macro_rules! in_tx {
    (write $self:ident, $tx:ident => $body:expr) => {
        $self.block_on(async {
            let mut client = $self.client().await?;
            let $tx = client.transaction().await?;
            tables::lock_revision(&$tx).await?;
            let out = $body.await?;
            // Delivered to every listening node when the transaction commits.
            $tx.execute("SELECT pg_notify($1, '')", &[&listen::CHANNEL])
                .await?;
            $tx.commit().await?;
            Ok(out)
        })
    };
    (read $self:ident, $tx:ident => $body:expr) => {
        $self.block_on(async {
            let mut client = $self.client().await?;
            let $tx = client
                .build_transaction()
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await?;
            let out = $body.await?;
            $tx.commit().await?;
            Ok(out)
        })
    };
}

/// `Transaction` for the table modules.
pub(crate) type Tx<'a> = Transaction<'a>;

impl Store for PgStore {
    fn changes(&self) -> Option<Arc<Notify>> {
        Some(self.changed.clone())
    }

    fn revision(&self) -> Result<u64> {
        in_tx!(read self, tx => tables::current_revision(&tx))
    }

    fn snapshot(&self) -> Result<model::Snapshot> {
        in_tx!(read self, tx => config::snapshot(&tx))
    }

    fn changes_since(&self, revision: u64) -> Result<model::Changes> {
        in_tx!(read self, tx => config::changes_since(&tx, revision))
    }

    fn create_zone(&self, name: &str) -> Result<model::Zone> {
        in_tx!(write self, tx => config::create_zone(&tx, name))
    }

    fn zone(&self, id: &str) -> Result<Option<model::Zone>> {
        in_tx!(read self, tx => config::zone_where(&tx, "id", id))
    }

    fn zone_by_name(&self, name: &str) -> Result<Option<model::Zone>> {
        let name = name.to_ascii_lowercase();
        in_tx!(read self, tx => config::zone_where(&tx, "name", &name))
    }

    fn list_zones(&self) -> Result<Vec<model::Zone>> {
        in_tx!(read self, tx => config::list_zones(&tx))
    }

    fn delete_zone(&self, id: &str) -> Result<bool> {
        in_tx!(write self, tx => config::delete_zone(&tx, id))
    }

    fn app(&self, zone_id: &str, app_id: &str) -> Result<Option<model::App>> {
        in_tx!(read self, tx => config::app(&tx, zone_id, app_id))
    }

    fn list_apps(&self, zone_id: &str, query: &model::AppListQuery) -> Result<crate::AppPage> {
        in_tx!(read self, tx => config::list_apps(&tx, zone_id, query))
    }

    fn create_app(
        &self,
        zone_id: &str,
        config: &model::AppConfig,
        edge_addresses: &[IpAddr],
    ) -> Result<model::App> {
        in_tx!(write self, tx => config::create_app(&tx, zone_id, config, edge_addresses))
    }

    fn update_app(
        &self,
        zone_id: &str,
        app_id: &str,
        config: &model::AppConfig,
        edge_addresses: &[IpAddr],
    ) -> Result<model::App> {
        in_tx!(write self, tx => config::update_app(&tx, zone_id, app_id, config, edge_addresses))
    }

    fn delete_app(&self, zone_id: &str, app_id: &str) -> Result<bool> {
        in_tx!(write self, tx => config::delete_app(&tx, zone_id, app_id))
    }

    fn access_rules(&self, zone_id: &str) -> Result<Vec<model::AccessRule>> {
        in_tx!(read self, tx => tables::rules_of_zone(&tx, zone_id))
    }

    fn access_rule(&self, zone_id: &str, id: &str) -> Result<Option<model::AccessRule>> {
        in_tx!(read self, tx => tables::rule(&tx, zone_id, id))
    }

    fn create_access_rule(
        &self,
        zone_id: &str,
        fields: &model::RuleFields,
    ) -> Result<model::AccessRule> {
        in_tx!(write self, tx => tables::create_rule(&tx, zone_id, fields))
    }

    fn update_access_rule(
        &self,
        zone_id: &str,
        id: &str,
        fields: &model::RuleFields,
    ) -> Result<Option<model::AccessRule>> {
        in_tx!(write self, tx => tables::update_rule(&tx, zone_id, id, fields))
    }

    fn delete_access_rule(&self, zone_id: &str, id: &str) -> Result<bool> {
        in_tx!(write self, tx => tables::delete_rule(&tx, zone_id, id))
    }

    fn certificates(&self, zone_id: &str) -> Result<Vec<model::Certificate>> {
        in_tx!(read self, tx => certificates::of_zone(&tx, zone_id))
    }

    fn certificate(&self, zone_id: &str, id: &str) -> Result<Option<model::Certificate>> {
        in_tx!(read self, tx => certificates::one(&tx, zone_id, id))
    }

    fn create_certificate(
        &self,
        zone_id: &str,
        fields: &model::CertificateFields,
    ) -> Result<model::Certificate> {
        in_tx!(write self, tx => certificates::create(&tx, zone_id, fields))
    }

    fn update_certificate(
        &self,
        zone_id: &str,
        id: &str,
        fields: &model::CertificateFields,
    ) -> Result<Option<model::Certificate>> {
        in_tx!(write self, tx => certificates::update(&tx, zone_id, id, fields))
    }

    fn delete_certificate(&self, zone_id: &str, id: &str) -> Result<bool> {
        in_tx!(write self, tx => certificates::delete(&tx, zone_id, id))
    }

    fn create_token(
        &self,
        name: &str,
        permissions: &[model::Permission],
        zones: Option<&[String]>,
    ) -> Result<(model::Token, String)> {
        in_tx!(write self, tx => tables::create_token(&tx, name, permissions, zones))
    }

    fn list_tokens(&self) -> Result<Vec<model::Token>> {
        in_tx!(read self, tx => tables::list_tokens(&tx))
    }

    fn revoke_token(&self, id: &str) -> Result<bool> {
        in_tx!(write self, tx => tables::revoke_token(&tx, id))
    }

    fn token_by_secret(&self, secret: &str) -> Result<Option<model::Token>> {
        in_tx!(read self, tx => tables::token_by_secret(&tx, secret))
    }

    fn create_user(&self, email: &str) -> Result<(model::User, String)> {
        in_tx!(write self, tx => tables::create_user(&tx, email))
    }

    fn user_by_key(&self, email: &str, key: &str) -> Result<Option<model::User>> {
        in_tx!(read self, tx => tables::user_by_key(&tx, email, key))
    }

    fn save_analytics(&self, node: &str, rows: &[model::analytics::MinuteRow]) -> Result<()> {
        self.block_on(async {
            // Outside the revision lock: analytics never wait for configuration writes.
            let mut client = self.client().await?;
            let tx = client.transaction().await?;
            analytics::save(&tx, node, rows).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn analytics(
        &self,
        zone_id: &str,
        since: i64,
        until: i64,
    ) -> Result<Vec<(String, model::analytics::MinuteRow)>> {
        in_tx!(read self, tx => analytics::load(&tx, zone_id, since, until))
    }

    fn prune_analytics(&self, before: i64) -> Result<u64> {
        self.block_on(async {
            let client = self.client().await?;
            Ok(client
                .execute(
                    "DELETE FROM analytics_minutes WHERE minute < $1",
                    &[&before],
                )
                .await?)
        })
    }

    fn heartbeat(&self, node: &model::Node) -> Result<()> {
        let json = crate::rows::node_json(node)?;
        self.block_on(async {
            // Outside the revision lock: heartbeats never wait for configuration writes.
            self.client()
                .await?
                .execute(
                    "INSERT INTO nodes (name, data) VALUES ($1, $2)
                     ON CONFLICT (name) DO UPDATE SET data = EXCLUDED.data",
                    &[&node.name, &json],
                )
                .await?;
            Ok(())
        })
    }

    fn nodes(&self) -> Result<Vec<model::Node>> {
        self.block_on(async {
            let rows = self
                .client()
                .await?
                .query(
                    r#"SELECT name, data FROM nodes ORDER BY name COLLATE "C""#,
                    &[],
                )
                .await?;
            rows.iter()
                .map(|r| crate::rows::to_node(r.get(0), r.get(1)))
                .collect()
        })
    }

    fn node_addresses(&self, node: &str) -> Result<model::LocalAddresses> {
        self.block_on(async {
            let rows = self
                .client()
                .await?
                .query(
                    "SELECT app_id, addresses FROM node_addresses WHERE node = $1",
                    &[&node],
                )
                .await?;
            rows.iter()
                .map(|r| {
                    let app: String = r.get(0);
                    let ips = crate::rows::parse_addresses(&app, r.get(1))?;
                    Ok((app, ips))
                })
                .collect()
        })
    }

    fn save_node_addresses(&self, node: &str, changes: &[model::LocalChange]) -> Result<()> {
        self.block_on(async {
            // Outside the revision lock: only this node writes its rows.
            let mut client = self.client().await?;
            let tx = client.transaction().await?;
            for (app, addresses) in changes {
                match addresses {
                    Some(ips) => {
                        tx.execute(
                            "INSERT INTO node_addresses (node, app_id, addresses) VALUES ($1, $2, $3)
                             ON CONFLICT (node, app_id) DO UPDATE SET addresses = EXCLUDED.addresses",
                            &[&node, app, &crate::rows::addresses_text(ips)],
                        )
                        .await?
                    }
                    None => {
                        tx.execute(
                            "DELETE FROM node_addresses WHERE node = $1 AND app_id = $2",
                            &[&node, app],
                        )
                        .await?
                    }
                };
            }
            tx.commit().await?;
            Ok(())
        })
    }

    fn credentials(&self) -> Result<crate::Credentials> {
        in_tx!(read self, tx => async {
            Ok::<_, StoreError>(crate::Credentials {
                tokens: dump::tokens(&tx).await?,
                users: dump::users(&tx).await?,
            })
        })
    }

    fn export(&self) -> Result<crate::Dump> {
        in_tx!(read self, tx => dump::export(&tx))
    }

    fn import(&self, dump: &crate::Dump) -> Result<crate::Imported> {
        in_tx!(write self, tx => dump::import(&tx, dump))
    }
}
