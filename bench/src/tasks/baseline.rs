//! The raw limits ferry's task figures are compared with: what the database
//! does for single-row INSERTs into a table shaped like `tasks`, and for the
//! textbook queue loop of claiming one row with `FOR UPDATE SKIP LOCKED` and
//! marking it done.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::Utc;
use sqlx::{
    AssertSqlSafe, Connection, PgConnection, Postgres, Sqlite, SqliteConnection,
    pool::PoolConnection,
};

use ferry_tests::{RawPool, TestDb};

use crate::load::{Sample, closed_loop};

/// Creates `raw_tasks` with the columns and indexes of ferry's `tasks`, so
/// that the baseline INSERT maintains as many indexes as ferry's does.
pub async fn create_raw_tasks(pool: &RawPool) -> anyhow::Result<()> {
    match pool {
        RawPool::Pg(pool) => {
            sqlx::query("CREATE TABLE raw_tasks (LIKE tasks INCLUDING ALL)")
                .execute(pool)
                .await
                .context("creating raw_tasks")?;
        }
        RawPool::Sqlite(pool) => {
            // SQLite has no `LIKE`: replay ferry's own DDL under another name.
            let ddl: Vec<String> = sqlx::query_scalar(
                "SELECT sql FROM sqlite_master WHERE tbl_name = 'tasks' AND sql IS NOT NULL ORDER BY type DESC",
            )
            .fetch_all(pool)
            .await?;
            if ddl.is_empty() {
                bail!("ferry's `tasks` table is missing; did the API migrate the database?");
            }
            for statement in ddl {
                let renamed = statement
                    .replace("\"idx_tasks_", "\"idx_raw_tasks_")
                    .replace("\"tasks\"", "\"raw_tasks\"");
                if renamed == statement {
                    bail!("cannot rename the `tasks` DDL for the baseline: {statement}");
                }
                sqlx::query(AssertSqlSafe(renamed))
                    .execute(pool)
                    .await
                    .context("creating raw_tasks")?;
            }
        }
    }
    Ok(())
}

/// `n` single-row INSERTs into `raw_tasks`, one autocommitted statement each,
/// from `concurrency` clients: the values a `ping` submission records (its
/// cluster a literal NULL, which fits the column before and after it became
/// a bigint, so that the bench runs against older builds too).
pub async fn insert_tasks(pool: &RawPool, n: usize, concurrency: usize) -> anyhow::Result<Sample> {
    const PG: &str = "INSERT INTO raw_tasks (id, kind, cluster_id, subject, status, attempts, \
        max_attempts, last_error, payload, result, created_by, request_id, worker, created_at, \
        started_at, finished_at, updated_at) VALUES ($1, $2, NULL, $3, $4, $5, $6, $7, $8, $9, $10, \
        $11, $12, $13, $14, $15, $16)";
    const SQLITE: &str = "INSERT INTO raw_tasks (id, kind, cluster_id, subject, status, attempts, \
        max_attempts, last_error, payload, result, created_by, request_id, worker, created_at, \
        started_at, finished_at, updated_at) VALUES (?1, ?2, NULL, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, \
        ?11, ?12, ?13, ?14, ?15, ?16)";
    let pool = pool.clone();
    closed_loop(n, concurrency, move |_| {
        let pool = pool.clone();
        async move {
            let now = Utc::now();
            let id = uuid::Uuid::now_v7().to_string();
            let request_id = uuid::Uuid::new_v4().to_string();
            let payload = sqlx::types::Json(serde_json::json!({}));
            let none: Option<String> = None;
            let no_time: Option<chrono::DateTime<Utc>> = None;
            macro_rules! bind_row {
                ($sql:expr) => {
                    sqlx::query($sql)
                        .bind(id)
                        .bind("ping")
                        .bind(none.clone())
                        .bind("pending")
                        .bind(0_i32)
                        .bind(5_i32)
                        .bind(none.clone())
                        .bind(payload)
                        .bind(None::<sqlx::types::Json<serde_json::Value>>)
                        .bind("admin")
                        .bind(request_id)
                        .bind(none)
                        .bind(now)
                        .bind(no_time)
                        .bind(no_time)
                        .bind(now)
                };
            }
            match &pool {
                RawPool::Pg(pool) => bind_row!(PG).execute(pool).await.map(drop)?,
                RawPool::Sqlite(pool) => bind_row!(SQLITE).execute(pool).await.map(drop)?,
            }
            Ok(())
        }
    })
    .await
}

/// Creates the `raw_jobs` queue table. The partial index is what any real
/// SKIP LOCKED queue keeps, so that a claim does not scan past done rows.
pub async fn create_raw_jobs(pool: &RawPool) -> anyhow::Result<()> {
    let statements: &[&'static str] = match pool {
        RawPool::Pg(_) => &[
            "CREATE TABLE raw_jobs (id BIGSERIAL PRIMARY KEY, status VARCHAR(16) NOT NULL, payload JSON NOT NULL DEFAULT '{}')",
            "CREATE INDEX raw_jobs_pending ON raw_jobs (id) WHERE status = 'pending'",
        ],
        RawPool::Sqlite(_) => &[
            "CREATE TABLE raw_jobs (id INTEGER PRIMARY KEY, status TEXT NOT NULL, payload TEXT NOT NULL DEFAULT '{}')",
            "CREATE INDEX raw_jobs_pending ON raw_jobs (id) WHERE status = 'pending'",
        ],
    };
    for sql in statements {
        match pool {
            RawPool::Pg(pool) => sqlx::query(*sql).execute(pool).await.map(drop),
            RawPool::Sqlite(pool) => sqlx::query(*sql).execute(pool).await.map(drop),
        }
        .context("creating raw_jobs")?;
    }
    Ok(())
}

/// What the raw claim loop is called in the report.
pub fn claim_name(pool: &RawPool) -> &'static str {
    match pool {
        RawPool::Pg(_) => "SKIP LOCKED",
        RawPool::Sqlite(_) => "claim UPDATE ... RETURNING",
    }
}

/// Adds `n` pending rows to `raw_jobs` in one statement.
pub async fn enqueue_jobs(pool: &RawPool, n: usize) -> anyhow::Result<()> {
    let n = i64::try_from(n)?;
    match pool {
        RawPool::Pg(pool) => {
            sqlx::query(
                "INSERT INTO raw_jobs (status) SELECT 'pending' FROM generate_series(1, $1)",
            )
            .bind(n)
            .execute(pool)
            .await?;
        }
        RawPool::Sqlite(pool) => {
            sqlx::query(
                "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < ?1) \
                 INSERT INTO raw_jobs (status) SELECT 'pending' FROM s",
            )
            .bind(n)
            .execute(pool)
            .await?;
        }
    }
    Ok(())
}

/// Drains `raw_jobs` with `loops` concurrent loops, each on its own
/// connection, claiming and finishing one job per transaction until none is
/// left. The connections are opened before the clock starts, and closed
/// afterwards. Returns how many jobs were done and how long it took.
pub async fn drain_jobs(db: &TestDb, loops: usize) -> anyhow::Result<(usize, Duration)> {
    let loops = loops.max(1);
    let pool = db.open_pool(u32::try_from(loops)?).await?;
    let result = drain_with(&pool, loops).await;
    pool.close().await;
    result
}

async fn drain_with(pool: &RawPool, loops: usize) -> anyhow::Result<(usize, Duration)> {
    let mut conns = Vec::with_capacity(loops);
    for _ in 0..loops {
        conns.push(match pool {
            RawPool::Pg(pool) => Conn::Pg(pool.acquire().await?),
            RawPool::Sqlite(pool) => Conn::Sqlite(pool.acquire().await?),
        });
    }
    let started = Instant::now();
    let handles: Vec<_> = conns
        .into_iter()
        .map(|conn| {
            tokio::spawn(async move {
                match conn {
                    Conn::Pg(mut conn) => drain_pg(&mut conn).await,
                    Conn::Sqlite(mut conn) => drain_sqlite(&mut conn).await,
                }
            })
        })
        .collect();
    let mut done = 0;
    for handle in handles {
        done += handle.await??;
    }
    Ok((done, started.elapsed()))
}

enum Conn {
    Pg(PoolConnection<Postgres>),
    Sqlite(PoolConnection<Sqlite>),
}

async fn drain_pg(conn: &mut PgConnection) -> anyhow::Result<usize> {
    let mut done = 0;
    loop {
        let mut tx = conn.begin().await?;
        let id: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM raw_jobs WHERE status = 'pending' ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED",
        )
        .fetch_optional(&mut *tx)
        .await?;
        let Some(id) = id else {
            tx.commit().await?;
            return Ok(done);
        };
        sqlx::query("UPDATE raw_jobs SET status = 'done' WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        done += 1;
    }
}

/// SQLite has no SKIP LOCKED; its single writer makes the claim and the
/// update one atomic statement instead.
async fn drain_sqlite(conn: &mut SqliteConnection) -> anyhow::Result<usize> {
    let mut done = 0;
    loop {
        let id: Option<i64> = sqlx::query_scalar(
            "UPDATE raw_jobs SET status = 'done' WHERE id = \
             (SELECT id FROM raw_jobs WHERE status = 'pending' ORDER BY id LIMIT 1) RETURNING id",
        )
        .fetch_optional(&mut *conn)
        .await?;
        if id.is_none() {
            return Ok(done);
        }
        done += 1;
    }
}
