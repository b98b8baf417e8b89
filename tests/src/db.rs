//! A fresh metadata store per test.
//!
//! Each test gets its own database so that tests can run in parallel and
//! assert exact counts: a SQLite file in a new temporary directory, or a new
//! PostgreSQL database named `ferry_t_<uuid>` that is dropped again when the
//! [`TestDb`] is dropped.

use std::{
    fmt,
    path::{Path, PathBuf},
    str::FromStr,
    time::Duration,
};

use sqlx::{
    AssertSqlSafe, Connection, PgConnection, PgPool, SqliteConnection, SqlitePool,
    postgres::PgPoolOptions,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};
use tempfile::TempDir;

/// The metadata stores ferry supports for its task queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        })
    }
}

/// The server-level PostgreSQL URL the harness creates databases from.
pub fn postgres_admin_url() -> String {
    std::env::var("FERRY_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// Where and under which name a store is created.
#[derive(Debug, Clone)]
pub struct DbOptions {
    /// The server-level PostgreSQL URL the database is created from.
    pub postgres_admin_url: String,
    /// Where the store's temporary directory (which holds the SQLite file)
    /// is created.
    pub parent_dir: PathBuf,
    /// The PostgreSQL database is named this followed by a UUID.
    pub database_prefix: String,
    /// The temporary directory's name starts with this.
    pub dir_prefix: String,
}

impl Default for DbOptions {
    /// What the tests use: [`postgres_admin_url`], the system's temporary
    /// directory, `ferry_t_<uuid>` and `ferry-test-…`.
    fn default() -> Self {
        Self {
            postgres_admin_url: postgres_admin_url(),
            parent_dir: std::env::temp_dir(),
            database_prefix: "ferry_t_".to_owned(),
            dir_prefix: "ferry-test-".to_owned(),
        }
    }
}

/// A sqlx pool straight on a store, bypassing ferry: for baselines that must
/// pay what ferry pays, and for checks.
#[derive(Debug, Clone)]
pub enum RawPool {
    Pg(PgPool),
    Sqlite(SqlitePool),
}

impl RawPool {
    pub async fn close(&self) {
        match self {
            RawPool::Pg(pool) => pool.close().await,
            RawPool::Sqlite(pool) => pool.close().await,
        }
    }
}

/// One test's metadata store, plus the directory its processes run in.
pub struct TestDb {
    backend: Backend,
    url: String,
    secret_key: Option<String>,
    /// The PostgreSQL database to drop at the end, if any.
    pg_database: Option<String>,
    /// The server-level URL it was created from, to drop it with.
    pg_admin_url: Option<String>,
    /// Holds the SQLite file and its key file, and is every process's working
    /// directory, so nothing a test starts writes into the source tree.
    dir: TempDir,
}

impl TestDb {
    /// Creates an empty metadata store; ferry migrates it on first start.
    pub async fn create(backend: Backend) -> Self {
        Self::try_create_with(backend, &DbOptions::default())
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Creates an empty metadata store where `options` say, or returns why it
    /// cannot.
    pub async fn try_create_with(backend: Backend, options: &DbOptions) -> Result<Self, String> {
        let dir = tempfile::Builder::new()
            .prefix(&options.dir_prefix)
            .tempdir_in(&options.parent_dir)
            .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
        match backend {
            Backend::Sqlite => {
                let url = format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join("ferry.db").display()
                );
                Ok(Self {
                    backend,
                    url,
                    // With SQLite ferry creates `ferry.key` beside the database;
                    // leaving the key unset exercises that default.
                    secret_key: None,
                    pg_database: None,
                    pg_admin_url: None,
                    dir,
                })
            }
            Backend::Postgres => {
                let name = format!(
                    "{}{}",
                    options.database_prefix,
                    uuid::Uuid::new_v4().simple()
                );
                let admin_url = options.postgres_admin_url.clone();
                // What to do about the server the tests use by default.
                let hint = if admin_url == postgres_admin_url() {
                    "; start it (scripts/test does) or set FERRY_TEST_POSTGRES_URL"
                } else {
                    ""
                };
                let mut conn = PgConnection::connect(&admin_url).await.map_err(|e| {
                    format!("cannot connect to PostgreSQL at {admin_url} ({e}){hint}")
                })?;
                // The name is generated above, never user input.
                sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
                    .execute(&mut conn)
                    .await
                    .map_err(|e| format!("cannot create database {name}: {e}"))?;
                let _ = conn.close().await;
                Ok(Self {
                    backend,
                    url: with_database(&admin_url, &name),
                    // PostgreSQL has no key file: ferry requires the key. 32
                    // random bytes, hex-encoded, from two v4 UUIDs.
                    secret_key: Some(format!(
                        "{}{}",
                        uuid::Uuid::new_v4().simple(),
                        uuid::Uuid::new_v4().simple()
                    )),
                    pg_database: Some(name),
                    pg_admin_url: Some(admin_url),
                    dir,
                })
            }
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The `FERRY_DATABASE_URL` of this store.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The `FERRY_SECRET_KEY` every process of this test must share, if the
    /// backend needs one.
    pub fn secret_key(&self) -> Option<&str> {
        self.secret_key.as_deref()
    }

    /// The directory processes run in and may write to.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Opens a pool of up to `size` connections straight on the store. SQLite
    /// connections get the settings ferry's own use (WAL, `synchronous =
    /// NORMAL`, a 30 s busy timeout), so that what runs through the pool pays
    /// for the same durability and locking as ferry does; a PostgreSQL pool
    /// waits at most 10 s for a free connection.
    pub async fn open_pool(&self, size: u32) -> Result<RawPool, sqlx::Error> {
        Ok(match self.backend {
            Backend::Postgres => RawPool::Pg(
                PgPoolOptions::new()
                    .max_connections(size)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect(&self.url)
                    .await?,
            ),
            Backend::Sqlite => RawPool::Sqlite(
                SqlitePoolOptions::new()
                    .max_connections(size)
                    .connect_with(
                        SqliteConnectOptions::from_str(&self.url)?
                            .create_if_missing(true)
                            .journal_mode(SqliteJournalMode::Wal)
                            .synchronous(SqliteSynchronous::Normal)
                            .busy_timeout(Duration::from_secs(30)),
                    )
                    .await?,
            ),
        })
    }

    /// Runs a query that returns one text column (use `CAST(x AS TEXT)` for
    /// other types) directly against the store, bypassing ferry.
    pub async fn query_strings(&self, sql: &str) -> Vec<Option<String>> {
        match self.backend {
            Backend::Sqlite => {
                let mut conn = SqliteConnection::connect(&self.url)
                    .await
                    .expect("open the test's SQLite database");
                let rows = sqlx::query_scalar::<_, Option<String>>(AssertSqlSafe(sql.to_owned()))
                    .fetch_all(&mut conn)
                    .await
                    .unwrap_or_else(|e| panic!("query `{sql}` failed: {e}"));
                let _ = conn.close().await;
                rows
            }
            Backend::Postgres => {
                let mut conn = PgConnection::connect(&self.url)
                    .await
                    .expect("connect to the test's PostgreSQL database");
                let rows = sqlx::query_scalar::<_, Option<String>>(AssertSqlSafe(sql.to_owned()))
                    .fetch_all(&mut conn)
                    .await
                    .unwrap_or_else(|e| panic!("query `{sql}` failed: {e}"));
                let _ = conn.close().await;
                rows
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.pg_database.take() else {
            return;
        };
        // Drop runs in async tests too, where blocking on the test's own
        // runtime is impossible; a short-lived thread with its own runtime
        // does the clean-up. Failing to drop only leaks an empty database,
        // so errors are reported, not raised.
        let admin_url = self.pg_admin_url.take().unwrap_or_else(postgres_admin_url);
        let result = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                let mut conn = PgConnection::connect(&admin_url)
                    .await
                    .map_err(|e| e.to_string())?;
                // FORCE ends connections a killed process may have left behind.
                sqlx::raw_sql(AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                )))
                .execute(&mut conn)
                .await
                .map_err(|e| format!("cannot drop database {name}: {e}"))?;
                let _ = conn.close().await;
                Ok::<(), String>(())
            })
        })
        .join();
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("ferry-tests: {e}"),
            Err(_) => eprintln!("ferry-tests: dropping a test database panicked"),
        }
    }
}

/// `postgres://u@h:p/test?x=y` with the database replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let server = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{server}/{name}?{query}"),
        None => format!("{server}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::{Backend, DbOptions, RawPool, TestDb, with_database};

    #[tokio::test]
    async fn sqlite_store_goes_where_asked_and_opens_like_ferry() {
        let parent = tempfile::tempdir().expect("a parent directory");
        let options = DbOptions {
            parent_dir: parent.path().to_owned(),
            dir_prefix: "ferry-unit-".to_owned(),
            ..DbOptions::default()
        };
        let db = TestDb::try_create_with(Backend::Sqlite, &options)
            .await
            .expect("a SQLite store");
        let dir = db.dir().to_owned();
        assert_eq!(dir.parent(), Some(parent.path()));
        assert!(dir.to_string_lossy().contains("/ferry-unit-"), "{dir:?}");
        let RawPool::Sqlite(pool) = db.open_pool(2).await.expect("a pool") else {
            panic!("a SQLite store opens a SQLite pool");
        };
        let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&pool)
            .await
            .expect("the journal mode");
        assert_eq!(journal, "wal");
        pool.close().await;
        drop(db);
        assert!(!dir.exists(), "the store's directory is removed");
    }

    #[test]
    fn database_is_replaced() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/test", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgres://u:p@h/test?sslmode=disable", "x"),
            "postgres://u:p@h/x?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://h:5432", "x"),
            "postgres://h:5432/x"
        );
    }
}
