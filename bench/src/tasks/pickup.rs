//! `--part pickup` (PostgreSQL): how soon an idle `ferry-worker` in another
//! process starts a task just submitted to `ferry-api`, and how soon a caller
//! waiting on that task (`GET /api/v1/tasks/{id}?waitMs=`, the wait every
//! TiEM or Confluent call that answers with its task's outcome makes) hears
//! that it finished. Beside them, the limit underneath: PostgreSQL's own
//! NOTIFY-to-LISTEN round trip on the same server.
//!
//! Tasks go one at a time, with an idle pause before each, so that the
//! worker is waiting when the task arrives. Pickup is the task's
//! `started_at` minus its `created_at` (both written on this host); the
//! waiting caller's delay is the moment its answer arrived minus the task's
//! `finished_at`.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use ferry_tests::{Launcher, RawPool};
use sqlx::postgres::PgListener;

use super::ferry_path::TasksClient;
use crate::stats::Latencies;

/// The goals for pickup across processes.
const GOAL_P50: Duration = Duration::from_millis(10);
const GOAL_P99: Duration = Duration::from_millis(50);
/// The idle pause before each task.
const IDLE: Duration = Duration::from_millis(30);

/// What the part measured.
pub struct Pickup {
    pub pickup: Latencies,
    pub answered: Latencies,
    pub notify: Latencies,
}

impl Pickup {
    /// Whether both figures meet the goals.
    pub fn meets_goals(&self) -> bool {
        [&self.pickup, &self.answered]
            .iter()
            .all(|l| l.percentile(50.0) <= GOAL_P50 && l.percentile(99.0) <= GOAL_P99)
    }

    pub fn print(&self) {
        let flag = |l: &Latencies| {
            if l.percentile(50.0) <= GOAL_P50 && l.percentile(99.0) <= GOAL_P99 {
                ""
            } else {
                "  MISSES GOAL"
            }
        };
        println!(
            "pickup across processes: {} (goal p50 <= 10 ms, p99 <= 50 ms) | raw NOTIFY round trip: {}{}",
            self.pickup.summary(),
            self.notify.summary(),
            flag(&self.pickup)
        );
        println!(
            "waiting caller answered after the task finished: {} (goal p50 <= 10 ms, p99 <= 50 ms){}",
            self.answered.summary(),
            flag(&self.answered)
        );
    }
}

/// Runs `n` tasks one at a time through an API and one worker process.
pub async fn measure(ferry: &Launcher, pool: &RawPool, n: usize) -> anyhow::Result<Pickup> {
    let RawPool::Pg(pg) = pool else {
        bail!("the pickup part needs PostgreSQL: on SQLite one process queues and runs");
    };
    let (mut api, address) = ferry
        .spawn_api(false, &[])
        .await
        .map_err(anyhow::Error::msg)?;
    let mut worker = ferry
        .spawn_worker("ferry-worker", &[])
        .map_err(anyhow::Error::msg)?;
    let client = TasksClient::new(&address, ferry.admin_token(), 1)?;
    let result = async {
        // The first tasks also wait for the worker to start; they are not
        // counted.
        for _ in 0..5 {
            let id = client.submit_one().await?;
            client.wait(&id, Duration::from_secs(30)).await?;
        }
        let mut pickup = Vec::with_capacity(n);
        let mut answered = Vec::with_capacity(n);
        for _ in 0..n {
            tokio::time::sleep(IDLE).await;
            worker.ensure_running().map_err(anyhow::Error::msg)?;
            let id = client.submit_one().await?;
            let status = client.wait(&id, Duration::from_secs(30)).await?;
            let answer_at = Utc::now();
            anyhow::ensure!(status == "succeeded", "task {id} is {status}");
            let (created, started, finished): (DateTime<Utc>, DateTime<Utc>, DateTime<Utc>) =
                sqlx::query_as(
                    "SELECT created_at, started_at, finished_at FROM tasks WHERE id = $1",
                )
                .bind(&id)
                .fetch_one(pg)
                .await
                .context("reading the task's times")?;
            pickup.push((started - created).to_std().unwrap_or_default());
            answered.push((answer_at - finished).to_std().unwrap_or_default());
        }
        Ok::<_, anyhow::Error>((pickup, answered))
    }
    .await;
    worker.kill();
    api.kill();
    let (pickup, answered) = result?;
    Ok(Pickup {
        pickup: Latencies::new(pickup),
        answered: Latencies::new(answered),
        notify: notify_round_trips(pg, n).await?,
    })
}

/// `n` NOTIFYs from one connection, each timed until a listening connection
/// receives it.
async fn notify_round_trips(pool: &sqlx::PgPool, n: usize) -> anyhow::Result<Latencies> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen("ferry_bench_pickup").await?;
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        tokio::time::sleep(IDLE).await;
        let sent = Instant::now();
        sqlx::query("NOTIFY ferry_bench_pickup")
            .execute(pool)
            .await?;
        listener.recv().await?;
        samples.push(sent.elapsed());
    }
    Ok(Latencies::new(samples))
}
