//! A fresh database per benchmark part, on the PostgreSQL server under test or
//! in a new SQLite file, and the sqlx pool the raw baselines use on it.
//!
//! Every part gets a database of its own so that nothing one part leaves
//! behind (queued tasks, bloated tables) becomes work or noise for the next,
//! and so that the run never touches data it did not create.

use std::{path::PathBuf, str::FromStr, time::Duration};

use anyhow::{Context, bail};
use sqlx::{
    AssertSqlSafe, Connection, PgConnection, PgPool, SqlitePool,
    postgres::PgPoolOptions,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};

/// Where the benchmark databases are created.
#[derive(Debug, Clone)]
pub enum Server {
    /// A PostgreSQL server, reached through a database that already exists
    /// (used only to create and drop the benchmark's own databases).
    Postgres { admin_url: String },
    /// A directory in which each database is a new SQLite file.
    Sqlite { dir: PathBuf },
}

impl Server {
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

/// The pool the raw baselines run their statements through.
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

/// A database created for one part of a run; [`BenchDb::destroy`] removes it.
#[derive(Debug)]
pub struct BenchDb {
    url: String,
    pool: RawPool,
    location: Location,
}

#[derive(Debug)]
enum Location {
    Postgres { admin_url: String, name: String },
    Sqlite { path: PathBuf },
}

impl BenchDb {
    /// Creates an empty database and opens a pool of `pool_size` connections
    /// to it for the raw baselines.
    pub async fn create(server: &Server, pool_size: u32) -> anyhow::Result<Self> {
        let tag = uuid::Uuid::new_v4().simple().to_string();
        match server {
            Server::Postgres { admin_url } => {
                let name = format!("ferry_bench_{tag}");
                let mut admin = PgConnection::connect(admin_url)
                    .await
                    .with_context(|| format!("cannot connect to {admin_url}"))?;
                sqlx::query(AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
                    .execute(&mut admin)
                    .await
                    .with_context(|| format!("cannot create database {name}"))?;
                admin.close().await?;
                let url = with_database(admin_url, &name)?;
                let location = Location::Postgres {
                    admin_url: admin_url.clone(),
                    name,
                };
                let pool = PgPoolOptions::new()
                    .max_connections(pool_size)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect(&url)
                    .await;
                match pool {
                    Ok(pool) => Ok(Self {
                        url,
                        pool: RawPool::Pg(pool),
                        location,
                    }),
                    Err(err) => {
                        // Without a pool the caller gets no handle to drop the
                        // database with, so it is dropped here.
                        location.remove().await;
                        Err(err).context("cannot connect to the new database")
                    }
                }
            }
            Server::Sqlite { dir } => {
                let path = dir.join(format!("ferry-bench-{tag}.db"));
                let url = format!("sqlite://{}?mode=rwc", path.display());
                let location = Location::Sqlite { path };
                match SqlitePoolOptions::new()
                    .max_connections(pool_size)
                    .connect_with(sqlite_options(&url)?)
                    .await
                {
                    Ok(pool) => Ok(Self {
                        url,
                        pool: RawPool::Sqlite(pool),
                        location,
                    }),
                    Err(err) => {
                        location.remove().await;
                        Err(err).context("cannot create the SQLite database")
                    }
                }
            }
        }
    }

    /// The URL ferry's processes are given (`FERRY_DATABASE_URL`).
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn pool(&self) -> &RawPool {
        &self.pool
    }

    /// Opens a separate pool of up to `size` connections, for a measurement
    /// that needs more connections than are worth keeping open all run
    /// (PostgreSQL's max_connections is shared with ferry's processes).
    pub async fn open_pool(&self, size: u32) -> anyhow::Result<RawPool> {
        Ok(match &self.pool {
            RawPool::Pg(_) => RawPool::Pg(
                PgPoolOptions::new()
                    .max_connections(size)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect(&self.url)
                    .await?,
            ),
            RawPool::Sqlite(_) => RawPool::Sqlite(
                SqlitePoolOptions::new()
                    .max_connections(size)
                    .connect_with(sqlite_options(&self.url)?)
                    .await?,
            ),
        })
    }

    /// Closes the pool and removes the database. Failures are printed, not
    /// returned, because this runs on the way out of both a good and a failed
    /// run, and the run's own outcome matters more.
    pub async fn destroy(self) {
        self.pool.close().await;
        self.location.remove().await;
    }
}

impl Location {
    async fn remove(&self) {
        match self {
            Location::Postgres { admin_url, name } => {
                // FORCE ends the sessions of ferry processes that were killed
                // but whose connections the server has not noticed closing.
                let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                let result = async {
                    let mut admin = PgConnection::connect(admin_url).await?;
                    sqlx::query(AssertSqlSafe(sql)).execute(&mut admin).await?;
                    admin.close().await
                }
                .await;
                if let Err(err) = result {
                    eprintln!("warning: could not drop database {name}: {err}");
                }
            }
            Location::Sqlite { path } => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut file = path.clone().into_os_string();
                    file.push(suffix);
                    let _ = tokio::fs::remove_file(PathBuf::from(file)).await;
                }
            }
        }
    }
}

/// The same connection settings ferry uses for SQLite (worker/src/store.rs),
/// so that the baseline pays for the same durability and locking.
fn sqlite_options(url: &str) -> anyhow::Result<SqliteConnectOptions> {
    Ok(SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(30)))
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

/// `postgres://user@host:port/db?opts` with its database replaced by `name`.
fn with_database(url: &str, name: &str) -> anyhow::Result<String> {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let Some(scheme_end) = base.find("://") else {
        bail!("`{url}` is not a postgres:// URL");
    };
    let authority_and_path = &base[scheme_end + 3..];
    let authority = authority_and_path
        .split_once('/')
        .map_or(authority_and_path, |(authority, _)| authority);
    let mut out = format!("{}://{authority}/{name}", &base[..scheme_end]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    Ok(out)
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
    fn replaces_the_database_and_keeps_options() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/test", "b").unwrap(),
            "postgres://postgres@127.0.0.1:5432/b"
        );
        assert_eq!(
            with_database("postgresql://u:p@h/test?sslmode=disable", "b").unwrap(),
            "postgresql://u:p@h/b?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://h:5432", "b").unwrap(),
            "postgres://h:5432/b"
        );
        assert_eq!(host_of("postgres://u:p@h:5432/test?x=1"), "h:5432");
    }
}
