//! The metadata store: one SQL database holding ferry's tables, the task
//! queue among them, reached through one sqlx pool, and on PostgreSQL a
//! second pool of two connections for the task queue's claims and
//! outcomes ([`Store::queue_db`]).

mod sqlite_busy;

use std::{
    str::FromStr,
    sync::{Arc, OnceLock},
    time::Duration,
};

use backon::{ExponentialBuilder, Retryable};
use ferry_migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, SqlxPostgresConnector,
    SqlxSqliteConnector, Statement, TransactionTrait,
};
use sqlx::{
    PgPool, SqlitePool,
    postgres::PgPoolOptions,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};

use ferry_entity::{audit_log, task};

use crate::{
    group_commit::GroupCommit,
    secrets::{KeyCheckError, SecretBox, check_and_rotate},
    settings::Settings,
    wakeups::Wakeups,
};

/// Why one migration try failed.
enum Migration {
    Key(KeyCheckError),
    Other(String),
}

impl From<String> for Migration {
    fn from(text: String) -> Self {
        Migration::Other(text)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot connect to the metadata store: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("the metadata store URL must start with sqlite:, postgres:// or postgresql://")]
    UnsupportedUrl,
    #[error(
        "FERRY_DATABASE_URL names MySQL/MariaDB, which cannot hold ferry's metadata store yet: \
         its named locks, its migrations' SQL and the task queue's claim statement are written \
         for SQLite and PostgreSQL only; use sqlite: or postgres:// for the metadata store \
         (MySQL/MariaDB stay supported as changefeed upstreams and downstreams)"
    )]
    MysqlQueueUnavailable,
    #[error("migrating the metadata store failed: {0}")]
    Migrate(String),
    #[error(transparent)]
    Key(KeyCheckError),
    #[error(transparent)]
    Secret(#[from] crate::secrets::SecretError),
}

/// The sqlx pool behind the store, by database kind.
#[derive(Clone, Debug)]
pub enum StorePool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Everything a request handler or a job needs to reach stored state.
#[derive(Clone, Debug)]
pub struct Store {
    pub db: DatabaseConnection,
    /// The connections a worker claims tasks and writes their outcomes on
    /// (`queue::claim`, `tasks::succeed_many`): on PostgreSQL a pool of its
    /// own of [`QUEUE_CONNECTIONS`], opened on first use. A worker has at
    /// most one claim and one outcome group in flight, so two connections
    /// never keep either waiting; and sqlx hands out idle connections in
    /// turn, so that through the main pool these statements ran on every
    /// connection of it, each backend preparing and planning them and
    /// loading the tables' catalog entries for itself, during drains that
    /// last a fraction of a second: through these two, a drain of 5,000
    /// tasks was 8-18% faster (docs/BENCHMARKS.md, session 22). On SQLite,
    /// the main pool.
    pub queue_db: DatabaseConnection,
    pub pool: StorePool,
    pub secrets: SecretBox,
    /// Queued and finished tasks, announced to this process and the others.
    pub wakeups: Wakeups,
    /// On PostgreSQL, the writer that groups single submissions made at
    /// about the same moment into one statement (`tasks::submit`), started
    /// by the first; shared by the store's clones.
    pub(crate) submissions: Arc<OnceLock<Submissions>>,
}

/// A single submission waiting for its group: the task's row and the
/// request's audit row. Each gets its own answer (`tasks::submit`).
pub(crate) type Submissions =
    GroupCommit<(task::Model, Option<audit_log::ActiveModel>), Result<(), DbErr>>;

/// Connections of [`Store::queue_db`] on PostgreSQL: one for the claim
/// loop, one for the outcome writer.
pub const QUEUE_CONNECTIONS: u32 = 2;

/// A named lock held until the transaction ends: a transaction-scoped
/// advisory lock on PostgreSQL.
pub const POSTGRES_LOCK: &str = "SELECT pg_advisory_xact_lock(hashtext($1))";

/// On SQLite a write to the lock's row, which takes the database's write lock
/// (one writer at a time) for the rest of the transaction.
pub const SQLITE_LOCK: &str = "INSERT INTO ferry_locks (name) VALUES (?) \
     ON CONFLICT (name) DO UPDATE SET name = excluded.name";

impl Store {
    /// Connects to the database named by the settings and loads the secret key.
    pub async fn connect(settings: &Settings) -> Result<Self, StoreError> {
        let url = settings.database_url.as_str();
        // The URL is checked before the secret key, so that a MySQL user learns
        // that the store is unsupported rather than first being asked for a key.
        if url.starts_with("mysql:") || url.starts_with("mariadb:") {
            return Err(StoreError::MysqlQueueUnavailable);
        }
        let secrets = SecretBox::load(settings)?;
        if url.starts_with("sqlite:") {
            // WAL lets readers proceed while one process writes, and the busy
            // handler makes a writer wait for the lock instead of failing with
            // `database is locked` when the API and workers write at once.
            // The busy timeout covers the connection until the handler, which
            // retries far more often, replaces it (see `sqlite_busy`).
            let options = SqliteConnectOptions::from_str(url)
                .map_err(StoreError::Connect)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(sqlite_busy::LOCK_WAIT);
            let open = || async {
                SqlitePoolOptions::new()
                    .max_connections(settings.database_max_connections.max(2))
                    .after_connect(|conn, _| Box::pin(sqlite_busy::install(conn)))
                    .connect_with(options.clone())
                    .await
            };
            // Two processes opening a new store at once: while one switches
            // it to WAL, SQLite answers the other's first connection
            // `database is locked` at once, before any busy handler or
            // timeout applies (`api::secrets::processes_starting_together_
            // agree_on_the_key` met it about one run in four). That open is
            // tried again, as a migration that raced another process is.
            let pool = open
                .retry(
                    ExponentialBuilder::default()
                        .with_min_delay(Duration::from_millis(20))
                        .with_max_times(8),
                )
                .when(|err: &sqlx::Error| {
                    err.as_database_error()
                        .and_then(|db| db.code())
                        .is_some_and(|code| code == "5")
                })
                .await
                .map_err(StoreError::Connect)?;
            let db = SqlxSqliteConnector::from_sqlx_sqlite_pool(pool.clone());
            Ok(Self {
                queue_db: db.clone(),
                db,
                pool: StorePool::Sqlite(pool),
                secrets,
                wakeups: Wakeups::local(),
                submissions: Arc::default(),
            })
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = |max: u32| {
                PgPoolOptions::new()
                    .max_connections(max)
                    .min_connections(0)
                    .idle_timeout(Duration::from_secs(60))
                    .acquire_timeout(Duration::from_secs(10))
                    // sqlx pings every connection it takes from the idle set,
                    // one more round trip per acquire; a connection that died
                    // while idle fails its statement instead, which callers
                    // already treat as a transient store error.
                    .test_before_acquire(false)
            };
            let pool = options(settings.database_max_connections.max(2))
                .connect(url)
                .await
                .map_err(StoreError::Connect)?;
            // Opened on first use: an API process never claims.
            let queue_pool = options(QUEUE_CONNECTIONS)
                .connect_lazy(url)
                .map_err(StoreError::Connect)?;
            Ok(Self {
                db: SqlxPostgresConnector::from_sqlx_postgres_pool(pool.clone()),
                queue_db: SqlxPostgresConnector::from_sqlx_postgres_pool(queue_pool),
                wakeups: Wakeups::postgres(pool.clone()),
                pool: StorePool::Postgres(pool),
                secrets,
                submissions: Arc::default(),
            })
        } else {
            Err(StoreError::UnsupportedUrl)
        }
    }

    /// Applies ferry's migrations. Safe when several processes
    /// start together: PostgreSQL serialises them with an advisory lock, SQLite
    /// with its write lock, and a loser of any remaining race retries.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let attempt = || async { self.migrate_once().await };
        attempt
            .retry(
                ExponentialBuilder::default()
                    .with_min_delay(Duration::from_millis(100))
                    .with_max_times(8),
            )
            // A wrong secret key stays wrong.
            .when(|err: &StoreError| matches!(err, StoreError::Migrate(_)))
            .notify(|err: &StoreError, wait| {
                tracing::warn!(error = %err, ?wait, "migration raced another process; retrying")
            })
            .await
    }

    /// One try: the migrations and the secret-key check in one transaction
    /// that other starting processes wait for.
    async fn migrate_once(&self) -> Result<(), StoreError> {
        self.migrate_locked().await.map_err(|e| match e {
            Migration::Key(KeyCheckError::WrongKey) => StoreError::Key(KeyCheckError::WrongKey),
            Migration::Key(other) => StoreError::Migrate(other.to_string()),
            Migration::Other(text) => StoreError::Migrate(text),
        })
    }

    async fn migrate_locked(&self) -> Result<(), Migration> {
        let txn = self.db.begin().await.map_err(|e| e.to_string())?;
        match &self.pool {
            StorePool::Postgres(_) => {
                txn.execute_unprepared("SELECT pg_advisory_xact_lock(4116001)")
                    .await
                    .map_err(|e| e.to_string())?;
            }
            StorePool::Sqlite(_) => {
                // A write as the first statement takes SQLite's write lock for
                // the whole transaction, so a second process waits here.
                txn.execute_unprepared(
                    "CREATE TABLE IF NOT EXISTS ferry_migration_lock (id INTEGER PRIMARY KEY)",
                )
                .await
                .map_err(|e| e.to_string())?;
                txn.execute_unprepared(
                    "INSERT OR REPLACE INTO ferry_migration_lock (id) VALUES (1)",
                )
                .await
                .map_err(|e| e.to_string())?;
            }
        }
        Migrator::up(&txn, None).await.map_err(|e| e.to_string())?;
        check_and_rotate(&txn, &self.secrets)
            .await
            .map_err(Migration::Key)?;
        txn.commit().await.map_err(|e| e.to_string())?;
        Ok(())
    }

    /// Takes the named lock until `txn` ends ([`POSTGRES_LOCK`],
    /// [`SQLITE_LOCK`]), so that check-then-insert
    /// sequences (e.g. "no topic task in progress, then add them") cannot
    /// interleave across processes.
    pub async fn lock(&self, txn: &DatabaseTransaction, name: &str) -> Result<(), DbErr> {
        let backend = txn.get_database_backend();
        let sql = match self.pool {
            StorePool::Postgres(_) => POSTGRES_LOCK,
            StorePool::Sqlite(_) => SQLITE_LOCK,
        };
        txn.execute_raw(Statement::from_sql_and_values(backend, sql, [name.into()]))
            .await
            .map(|_| ())
    }

    /// Whether the database answers within [`HEALTH_TIMEOUT`] and every
    /// migration has been applied. The bound keeps `/readyz` quick while the
    /// store is down: a connection attempt to a server that does not answer
    /// would otherwise wait for the pool's own timeout.
    pub async fn is_ready(&self) -> bool {
        let pending = Migrator::get_pending_migrations(&self.db);
        matches!(
            tokio::time::timeout(HEALTH_TIMEOUT, pending).await,
            Ok(Ok(pending)) if pending.is_empty()
        )
    }

    /// Whether the database answers a trivial query within
    /// [`HEALTH_TIMEOUT`]: what a worker waits for after losing the store.
    pub async fn is_reachable(&self) -> bool {
        matches!(
            tokio::time::timeout(HEALTH_TIMEOUT, self.db.ping()).await,
            Ok(Ok(()))
        )
    }
}

/// How long a health check waits for the store before calling it down.
pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(2);
