//! The ferry side of the task benchmark: submissions through the HTTP API and
//! no-op tasks run by `ferry-worker` processes, observed through the database.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};

use ferry_tests::{FerryProcess, Launcher, RawPool};

use super::cpu;
use crate::load::{Sample, closed_loop};

/// How often the database is asked whether the workers are done.
const POLL: Duration = Duration::from_millis(50);

/// An HTTP client for `POST /api/v1/tasks`.
#[derive(Debug, Clone)]
pub struct TasksClient {
    http: reqwest::Client,
    url: String,
    authorization: String,
    /// The body of one submission: a `ping` task, sleeping or not.
    ping: serde_json::Value,
}

impl TasksClient {
    /// A client of the API at `address` (`http://127.0.0.1:PORT`).
    pub fn new(address: &str, token: &str, clients: usize) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(clients)
            .timeout(Duration::from_secs(30))
            .build()?;
        Ok(Self {
            http,
            url: format!("{address}/api/v1/tasks"),
            authorization: format!("Bearer {token}"),
            ping: serde_json::json!({ "kind": "ping" }),
        })
    }

    /// The same client, submitting `ping` tasks that sleep `ms` in their
    /// attempt (none when 0).
    pub fn sleeping(mut self, ms: u64) -> Self {
        if ms > 0 {
            self.ping = serde_json::json!({ "kind": "ping", "payload": { "sleepMs": ms } });
        }
        self
    }

    /// Posts `body` to `/api/v1/tasks`, checks that it was accepted and
    /// returns the answer's body. The body is read in full, as a real caller
    /// would, so that the connection is reused and the measured latency
    /// includes it.
    async fn post(&self, body: &serde_json::Value) -> anyhow::Result<impl AsRef<[u8]> + use<>> {
        let response = self
            .http
            .post(&self.url)
            .header(reqwest::header::AUTHORIZATION, &self.authorization)
            .json(body)
            .send()
            .await
            .context("POST /api/v1/tasks")?;
        let status = response.status();
        let body = response.bytes().await?;
        if status != reqwest::StatusCode::ACCEPTED {
            bail!(
                "POST /api/v1/tasks answered {status}: {}",
                String::from_utf8_lossy(&body)
            );
        }
        Ok(body)
    }

    /// Submits one `ping` task and checks that it was accepted.
    async fn submit(&self) -> anyhow::Result<()> {
        self.post(&self.ping).await?;
        Ok(())
    }

    /// Submits `count` tasks in one call (a JSON list) and checks that every
    /// one was accepted.
    pub async fn submit_list(&self, count: usize) -> anyhow::Result<()> {
        let list = serde_json::json!(vec![serde_json::json!({ "kind": "ping" }); count]);
        let accepted: Vec<serde_json::Value> =
            serde_json::from_slice(self.post(&list).await?.as_ref())?;
        anyhow::ensure!(
            accepted.len() == count,
            "{} tasks accepted of {count}",
            accepted.len()
        );
        Ok(())
    }

    /// Submits one `ping` task and returns its id.
    pub async fn submit_one(&self) -> anyhow::Result<String> {
        let body = self.post(&serde_json::json!({ "kind": "ping" })).await?;
        let task: serde_json::Value = serde_json::from_slice(body.as_ref())?;
        task["id"]
            .as_str()
            .map(str::to_owned)
            .context("the accepted task has an id")
    }

    /// Waits for the task with `GET /api/v1/tasks/{id}?waitMs=`, and returns
    /// its status as answered.
    pub async fn wait(&self, id: &str, wait: Duration) -> anyhow::Result<String> {
        let task: serde_json::Value = self
            .http
            .get(format!("{}/{id}", self.url))
            .query(&[("waitMs", wait.as_millis().to_string())])
            .header(reqwest::header::AUTHORIZATION, &self.authorization)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        task["status"]
            .as_str()
            .map(str::to_owned)
            .context("the task has a status")
    }

    /// Submits `n` tasks from `concurrency` clients, timing each request.
    pub async fn submit_many(&self, n: usize, concurrency: usize) -> anyhow::Result<Sample> {
        let client = self.clone();
        closed_loop(n, concurrency, move |_| {
            let client = client.clone();
            async move { client.submit().await }
        })
        .await
    }
}

/// A project with a project ADMIN token whose own rate limit is far above
/// what the benchmark sends, so that the bucket is checked but never empty.
pub async fn mint_project_token(address: &str, admin: &str) -> anyhow::Result<String> {
    let http = reqwest::Client::new();
    let post = |path: &str, body: serde_json::Value| {
        http.post(format!("{address}{path}"))
            .bearer_auth(admin)
            .json(&body)
            .send()
    };
    post(
        "/api/v1/projects",
        serde_json::json!({ "id": "bench", "name": "bench" }),
    )
    .await?
    .error_for_status()?;
    let minted: serde_json::Value = post(
        "/api/v1/projects/bench/tokens",
        serde_json::json!({ "name": "bench", "role": "ADMIN",
            "rateLimit": { "perSecond": 1_000_000, "burst": 1_000_000 } }),
    )
    .await?
    .error_for_status()?
    .json()
    .await?;
    minted["token"]
        .as_str()
        .map(str::to_owned)
        .context("the minted token is in the answer")
}

/// What a batch run by workers measured.
#[derive(Debug, Clone)]
pub struct WorkerRun {
    /// Tasks that ran in this batch.
    pub count: usize,
    /// From the first task's claim to the last task's finish, as the workers
    /// recorded them: the processing window, without process start-up (about
    /// a third of a second here), which the raw loops do not pay either.
    pub window: Duration,
    /// How far apart the workers' first claims were: near zero when all of
    /// them were ready when the batch became due.
    pub first_claims_apart: Duration,
    /// CPU time of the workers and of PostgreSQL from the batch's release
    /// until it was seen done.
    pub cpu: cpu::CpuUse,
}

impl WorkerRun {
    pub fn per_second(&self) -> f64 {
        crate::stats::per_second(self.count, self.window)
    }
}

/// How long the workers are given, once every one of them has registered,
/// to make their first (empty) claim and listen for queued jobs: twice
/// their default poll, so that even one that missed the release's
/// notification would find the batch before this much more had passed.
const SETTLE: Duration = Duration::from_millis(250);

/// Starts `workers` worker processes on a queue that holds the batch (and
/// nothing unfinished besides), waits until `expected_total` tasks have
/// succeeded in the whole table, then stops the workers.
///
/// The batch is held out of the queue until every worker has started, then
/// made due at once, as the peers' processes are all told to go at once
/// (`peers/process.rs`): a worker that started first would otherwise drain
/// alone while the others still connect, and a drain of a few thousand
/// no-op tasks takes less time than a process's start.
pub async fn run_batch(
    ferry: &Launcher,
    pool: &RawPool,
    workers: usize,
    expected_total: usize,
    timeout: Duration,
) -> anyhow::Result<WorkerRun> {
    hold_queue(pool).await?;
    // Every task of this batch starts after this instant; the workers run on
    // this host, so their clock is this clock.
    let since = Utc::now();
    let spawned = Instant::now();
    let mut processes: Vec<FerryProcess> = (0..workers)
        .map(|_| ferry.spawn_worker("ferry-worker", &[]))
        .collect::<Result<_, _>>()
        .map_err(anyhow::Error::msg)?;
    let pids: Vec<i32> = processes.iter().map(FerryProcess::pid).collect();
    let result = async {
        wait_until_registered(pool, &mut processes, workers, since, spawned + timeout).await?;
        tokio::time::sleep(SETTLE).await;
        release_queue(pool).await?;
        let before = cpu::Snapshot::take(&pids);
        wait_until_done(pool, &mut processes, expected_total, spawned + timeout).await?;
        anyhow::Ok(before.until(&cpu::Snapshot::take(&pids)))
    }
    .await;
    // A benchmark has no use for a graceful drain: every task it cares about
    // has finished by now.
    for process in &mut processes {
        process.kill();
    }
    let cpu = result?;
    let (count, first, last) = window_since(pool, since).await?;
    let window = (last - first).to_std().unwrap_or_default();
    let first_claims_apart = first_claims_apart(pool, since).await?;
    Ok(WorkerRun {
        count,
        window,
        first_claims_apart,
        cpu,
    })
}

/// Moves the queued batch keys aside (`bench_held_queue`, created on first
/// use with `task_queue`'s columns), so that workers starting now find
/// nothing due.
async fn hold_queue(pool: &RawPool) -> anyhow::Result<()> {
    const STATEMENTS: [&str; 3] = [
        "CREATE TABLE IF NOT EXISTS bench_held_queue AS SELECT * FROM task_queue WHERE 1 = 0",
        "INSERT INTO bench_held_queue SELECT * FROM task_queue",
        "DELETE FROM task_queue",
    ];
    in_one_transaction(pool, &STATEMENTS)
        .await
        .context("holding the batch out of the queue")
}

/// Puts the held batch keys back into the queue in one commit and, on
/// PostgreSQL, announces them on the channel idle workers listen on, as a
/// submission's commit does.
async fn release_queue(pool: &RawPool) -> anyhow::Result<()> {
    const STATEMENTS: [&str; 2] = [
        "INSERT INTO task_queue SELECT * FROM bench_held_queue",
        "DELETE FROM bench_held_queue",
    ];
    in_one_transaction(pool, &STATEMENTS)
        .await
        .context("releasing the batch into the queue")?;
    if let RawPool::Pg(pool) = pool {
        sqlx::query("SELECT pg_notify($1, '')")
            .bind(ferry_service::wakeups::QUEUED_CHANNEL)
            .execute(pool)
            .await?;
    }
    Ok(())
}

async fn in_one_transaction(pool: &RawPool, statements: &[&'static str]) -> anyhow::Result<()> {
    macro_rules! run {
        ($pool:expr) => {{
            let mut txn = $pool.begin().await?;
            for statement in statements {
                sqlx::query(*statement).execute(&mut *txn).await?;
            }
            txn.commit().await?;
        }};
    }
    match pool {
        RawPool::Pg(pool) => run!(pool),
        RawPool::Sqlite(pool) => run!(pool),
    }
    Ok(())
}

/// Waits until `workers` workers started since `since` have registered in
/// the queue (`task_workers`); killed workers of earlier batches stay there
/// until their heartbeat lapses.
async fn wait_until_registered(
    pool: &RawPool,
    processes: &mut [FerryProcess],
    workers: usize,
    since: DateTime<Utc>,
    deadline: Instant,
) -> anyhow::Result<()> {
    loop {
        for process in processes.iter_mut() {
            process.ensure_running().map_err(anyhow::Error::msg)?;
        }
        let registered: (i64,) = match pool {
            RawPool::Pg(pool) => {
                sqlx::query_as("SELECT count(*) FROM task_workers WHERE started_at >= $1")
                    .bind(since)
                    .fetch_one(pool)
                    .await?
            }
            RawPool::Sqlite(pool) => {
                sqlx::query_as("SELECT count(*) FROM task_workers WHERE started_at >= ?1")
                    .bind(since)
                    .fetch_one(pool)
                    .await?
            }
        };
        if usize::try_from(registered.0)? >= workers {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!(
                "only {} of {workers} workers had registered at the deadline",
                registered.0
            );
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The span between the earliest and the latest of the workers' first
/// claims of tasks started at or after `since`.
async fn first_claims_apart(pool: &RawPool, since: DateTime<Utc>) -> anyhow::Result<Duration> {
    macro_rules! first_claims {
        ($parameter:literal) => {
            concat!(
                "SELECT min(first), max(first) FROM (SELECT min(started_at) AS first \
                 FROM tasks WHERE started_at >= ",
                $parameter,
                " GROUP BY worker) AS w"
            )
        };
    }
    type Row = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);
    let row: Row = match pool {
        RawPool::Pg(pool) => {
            sqlx::query_as(first_claims!("$1"))
                .bind(since)
                .fetch_one(pool)
                .await?
        }
        RawPool::Sqlite(pool) => {
            sqlx::query_as(first_claims!("?1"))
                .bind(since)
                .fetch_one(pool)
                .await?
        }
    };
    Ok(match row {
        (Some(first), Some(last)) => (last - first).to_std().unwrap_or_default(),
        _ => Duration::ZERO,
    })
}

async fn wait_until_done(
    pool: &RawPool,
    processes: &mut [FerryProcess],
    expected_total: usize,
    deadline: Instant,
) -> anyhow::Result<()> {
    loop {
        tokio::time::sleep(POLL).await;
        // A benchmark waiting on a dead worker would otherwise wait until
        // its deadline.
        for process in processes.iter_mut() {
            process.ensure_running().map_err(anyhow::Error::msg)?;
        }
        // The count of every task's status reads the whole table, which
        // took a tenth of the database's time while ferry drained (every
        // 50 ms, 5 ms each). While batch keys are still queued the batch is
        // not done, and that answer costs a look at a small table; the
        // peers are asked about their own queue tables the same way.
        if queued_keys(pool).await? > 0 {
            if Instant::now() >= deadline {
                bail!("tasks were still queued at the deadline (raise --timeout-secs?)");
            }
            continue;
        }
        let (succeeded, failed) = task_counts(pool).await?;
        if failed > 0 {
            bail!("{failed} tasks failed or were cancelled; a no-op ping should always succeed");
        }
        if succeeded >= expected_total {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!(
                "only {succeeded} of {expected_total} tasks had succeeded at the deadline (raise --timeout-secs?)"
            );
        }
    }
}

/// Batch keys waiting in ferry's queue (`task_queue`).
async fn queued_keys(pool: &RawPool) -> anyhow::Result<usize> {
    const SQL: &str = "SELECT count(*) FROM task_queue";
    let (queued,): (i64,) = match pool {
        RawPool::Pg(pool) => sqlx::query_as(SQL).fetch_one(pool).await?,
        RawPool::Sqlite(pool) => sqlx::query_as(SQL).fetch_one(pool).await?,
    };
    Ok(usize::try_from(queued)?)
}

/// Succeeded tasks, and tasks that ended any other way.
async fn task_counts(pool: &RawPool) -> anyhow::Result<(usize, usize)> {
    const SQL: &str = "SELECT count(CASE WHEN status = 'succeeded' THEN 1 END), \
        count(CASE WHEN status IN ('failed', 'cancelled') THEN 1 END) FROM tasks";
    let (succeeded, failed): (i64, i64) = match pool {
        RawPool::Pg(pool) => sqlx::query_as(SQL).fetch_one(pool).await?,
        RawPool::Sqlite(pool) => sqlx::query_as(SQL).fetch_one(pool).await?,
    };
    Ok((usize::try_from(succeeded)?, usize::try_from(failed)?))
}

/// How many tasks started at or after `since`, the first such start and the
/// last finish among them.
async fn window_since(
    pool: &RawPool,
    since: DateTime<Utc>,
) -> anyhow::Result<(usize, DateTime<Utc>, DateTime<Utc>)> {
    type Row = (i64, Option<DateTime<Utc>>, Option<DateTime<Utc>>);
    let row: Row = match pool {
        RawPool::Pg(pool) => sqlx::query_as(
            "SELECT count(*), min(started_at), max(finished_at) FROM tasks WHERE started_at >= $1",
        )
        .bind(since)
        .fetch_one(pool)
        .await?,
        RawPool::Sqlite(pool) => sqlx::query_as(
            "SELECT count(*), min(started_at), max(finished_at) FROM tasks WHERE started_at >= ?1",
        )
        .bind(since)
        .fetch_one(pool)
        .await?,
    };
    match row {
        (count, Some(first), Some(last)) => Ok((usize::try_from(count)?, first, last)),
        _ => bail!("no task of this batch recorded a start and a finish"),
    }
}
