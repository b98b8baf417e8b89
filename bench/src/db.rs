//! Where the task benchmark's databases are created, and the line naming
//! the database engine in its report.
//!
//! Every part gets a fresh database of its own from the tests' harness
//! ([`TestDb`]: `ferry_bench_<uuid>` on the PostgreSQL server under test, or a
//! new SQLite file), removed again when it is dropped, so that nothing one
//! part leaves behind (queued tasks, bloated tables) becomes work or noise for
//! the next, and so that the run never touches data it did not create.

use std::path::PathBuf;

use anyhow::Context;
use ferry_tests::{Backend, DbOptions, TestDb};
use sqlx::{Connection, PgConnection, sqlite::SqlitePoolOptions};

/// Where the benchmark databases are created.
#[derive(Debug, Clone)]
pub enum Server {
    /// A PostgreSQL server, reached through a database that already exists
    /// (used only to create and drop the benchmark's own databases).
    Postgres { admin_url: String },
    /// A directory in which each database is a new SQLite file (in a
    /// directory of its own, `ferry-bench-…`).
    Sqlite { dir: PathBuf },
}

impl Server {
    /// Creates an empty database; ferry migrates it on first start.
    pub async fn create(&self) -> anyhow::Result<TestDb> {
        let mut options = DbOptions {
            database_prefix: "ferry_bench_".to_owned(),
            dir_prefix: "ferry-bench-".to_owned(),
            ..DbOptions::default()
        };
        let backend = match self {
            Server::Postgres { admin_url } => {
                options.postgres_admin_url = admin_url.clone();
                Backend::Postgres
            }
            Server::Sqlite { dir } => {
                options.parent_dir = dir.clone();
                Backend::Sqlite
            }
        };
        TestDb::try_create_with(backend, &options)
            .await
            .map_err(anyhow::Error::msg)
    }

    /// One line naming the database engine and its version, for the report.
    pub async fn describe(&self) -> anyhow::Result<String> {
        match self {
            Server::Postgres { admin_url } => {
                let mut conn = PgConnection::connect(admin_url)
                    .await
                    .with_context(|| format!("cannot connect to {admin_url}"))?;
                let version: String = sqlx::query_scalar("SHOW server_version")
                    .fetch_one(&mut conn)
                    .await?;
                let fsync: String = sqlx::query_scalar("SHOW synchronous_commit")
                    .fetch_one(&mut conn)
                    .await?;
                conn.close().await?;
                Ok(format!(
                    "PostgreSQL {version} (synchronous_commit={fsync}) at {}",
                    host_of(admin_url)
                ))
            }
            Server::Sqlite { dir } => Ok(format!(
                "SQLite {} (WAL, synchronous=NORMAL) in {}",
                sqlite_version().await?,
                dir.display()
            )),
        }
    }
}

async fn sqlite_version() -> anyhow::Result<String> {
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect("sqlite::memory:")
        .await?;
    let version: String = sqlx::query_scalar("SELECT sqlite_version()")
        .fetch_one(&pool)
        .await?;
    pool.close().await;
    Ok(version)
}

/// The host part of a URL without its credentials, for printing.
fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let rest = rest.split(['/', '?']).next().unwrap_or(rest);
    rest.rsplit_once('@').map_or(rest, |(_, host)| host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_without_credentials() {
        assert_eq!(host_of("postgres://u:p@h:5432/test?x=1"), "h:5432");
        assert_eq!(
            host_of("postgres://postgres@127.0.0.1:5432/test"),
            "127.0.0.1:5432"
        );
    }
}
