//! `--part bulk`: bulk submission, `POST /api/v1/tasks` with a list of
//! `ping` tasks, beside raw multi-row INSERTs of the same rows into a copy of
//! `tasks` (one statement per list). Both run from one client, one call after
//! the other; ferry's rate counts every task of every list, and so does the
//! raw one. Ferry writes more per task than the raw statement (the task row,
//! its queue row and one audit row per list), which is the point of the
//! comparison.

use std::time::Instant;

use anyhow::Context;
use chrono::Utc;
use ferry_tests::RawPool;
use sqlx::QueryBuilder;

use super::ferry_path::TasksClient;
use crate::stats::{self, Ratio};

/// Tasks per list: the most one call may hold.
pub const LIST: usize = 1_000;

/// Submits `n` tasks in lists of [`LIST`] and returns the tasks per second.
pub async fn ferry(client: &TasksClient, n: usize) -> anyhow::Result<f64> {
    let started = Instant::now();
    let mut left = n;
    while left > 0 {
        let count = left.min(LIST);
        client.submit_list(count).await?;
        left -= count;
    }
    Ok(stats::per_second(n, started.elapsed()))
}

/// Inserts `n` rows into `raw_tasks` in statements of [`LIST`] rows and
/// returns the rows per second.
pub async fn raw(pool: &RawPool, n: usize) -> anyhow::Result<f64> {
    let started = Instant::now();
    let mut left = n;
    while left > 0 {
        let count = left.min(LIST);
        insert_rows(pool, count).await?;
        left -= count;
    }
    Ok(stats::per_second(n, started.elapsed()))
}

/// One multi-row INSERT of `count` rows with the values a `ping` submission
/// records.
async fn insert_rows(pool: &RawPool, count: usize) -> anyhow::Result<()> {
    macro_rules! insert {
        ($db:ty, $pool:expr) => {{
            let now = Utc::now();
            let mut builder = QueryBuilder::<$db>::new(
                "INSERT INTO raw_tasks (id, kind, status, attempts, max_attempts, payload, \
                 created_by, request_id, created_at, updated_at) ",
            );
            builder.push_values(0..count, |mut row, _| {
                row.push_bind(uuid::Uuid::now_v7().to_string())
                    .push_bind("ping")
                    .push_bind("pending")
                    .push_bind(0i32)
                    .push_bind(3i32)
                    .push_bind(sqlx::types::Json(
                        serde_json::json!({"sleep_ms": 0, "fail_times": 0}),
                    ))
                    .push_bind("admin")
                    .push_bind(uuid::Uuid::new_v4().to_string())
                    .push_bind(now)
                    .push_bind(now);
            });
            builder
                .build()
                .execute($pool)
                .await
                .context("multi-row INSERT into raw_tasks")?;
        }};
    }
    match pool {
        RawPool::Pg(pool) => insert!(sqlx::Postgres, pool),
        RawPool::Sqlite(pool) => insert!(sqlx::Sqlite, pool),
    }
    Ok(())
}

/// Rounds of both sides, alternating which goes first; prints the figures
/// and returns the ratio and ferry's rate in each round.
pub async fn compare(
    client: &TasksClient,
    pool: &RawPool,
    n: usize,
    rounds: usize,
) -> anyhow::Result<(Ratio, Vec<f64>)> {
    // Warm both paths: pooled connections, statement caches.
    ferry(client, LIST).await?;
    raw(pool, LIST).await?;
    let mut pairs = Vec::new();
    for round in 0..rounds {
        let (f, r) = if round % 2 == 0 {
            let f = ferry(client, n).await?;
            (f, raw(pool, n).await?)
        } else {
            let r = raw(pool, n).await?;
            (ferry(client, n).await?, r)
        };
        pairs.push((f, r));
    }
    let ratio = Ratio::from_rounds("bulk submit", &pairs);
    let ferry_rates: Vec<f64> = pairs.iter().map(|p| p.0).collect();
    let raw_rates: Vec<f64> = pairs.iter().map(|p| p.1).collect();
    println!(
        "bulk submit: {} tasks/s (lists of {LIST}) | raw multi-row INSERT: {} rows/s | {}",
        stats::rate(stats::median(&ferry_rates)),
        stats::rate(stats::median(&raw_rates)),
        ratio.describe()
    );
    Ok((ratio, ferry_rates))
}
