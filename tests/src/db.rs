//! A fresh metadata store per test.
//!
//! Each test gets its own database so that tests can run in parallel and
//! assert exact counts: a SQLite file in a new temporary directory, or a new
//! PostgreSQL database named `ferry_t_<uuid>` that is dropped again when the
//! [`TestDb`] is dropped.

use std::{fmt, path::Path};

use sqlx::{AssertSqlSafe, Connection, PgConnection, SqliteConnection};
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

/// One test's metadata store, plus the directory its processes run in.
pub struct TestDb {
    backend: Backend,
    url: String,
    secret_key: Option<String>,
    /// The PostgreSQL database to drop at the end, if any.
    pg_database: Option<String>,
    /// Holds the SQLite file and its key file, and is every process's working
    /// directory, so nothing a test starts writes into the source tree.
    dir: TempDir,
}

impl TestDb {
    /// Creates an empty metadata store; ferry migrates it on first start.
    pub async fn create(backend: Backend) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("ferry-test-")
            .tempdir()
            .expect("cannot create a temporary directory");
        match backend {
            Backend::Sqlite => {
                let url = format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join("ferry.db").display()
                );
                Self {
                    backend,
                    url,
                    // With SQLite ferry creates `ferry.key` beside the database;
                    // leaving the key unset exercises that default.
                    secret_key: None,
                    pg_database: None,
                    dir,
                }
            }
            Backend::Postgres => {
                let name = format!("ferry_t_{}", uuid::Uuid::new_v4().simple());
                let admin_url = postgres_admin_url();
                let mut conn = PgConnection::connect(&admin_url).await.unwrap_or_else(|e| {
                    panic!(
                        "cannot connect to PostgreSQL at {admin_url} ({e}); start it \
                         (scripts/test does) or set FERRY_TEST_POSTGRES_URL"
                    )
                });
                // The name is generated above, never user input.
                sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
                    .execute(&mut conn)
                    .await
                    .unwrap_or_else(|e| panic!("cannot create database {name}: {e}"));
                let _ = conn.close().await;
                Self {
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
                    dir,
                }
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
        let admin_url = postgres_admin_url();
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
    use super::with_database;

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
