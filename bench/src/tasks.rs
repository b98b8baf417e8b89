//! `ferry-bench tasks`: the durable-task path, in two parts, each beside its
//! raw limit on the same database server.
//!
//! 1. submit: `POST /api/v1/tasks` from concurrent clients against an API with
//!    no worker, beside single-row INSERTs into a copy of the `tasks` table.
//! 2. run: a pre-enqueued batch of no-op `ping` tasks run by 1, 2 and 4
//!    `ferry-worker` processes, beside as many loops of
//!    `SELECT ... FOR UPDATE SKIP LOCKED` + `UPDATE` over a plain jobs table.

mod baseline;
mod ferry_path;

use std::{path::PathBuf, time::Duration};

use anyhow::Context;

use crate::{
    db::{BenchDb, Server},
    ferry::{FerryEnv, LogOptions, WorkerKnobs},
    stats::{self, Ratio},
};
use ferry_path::TasksClient;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Tasks per measurement: submissions in part 1, and the batch size for
    /// each worker count in part 2.
    #[arg(long, default_value_t = 2000)]
    n: usize,
    /// Concurrent HTTP clients submitting tasks; the INSERT baseline uses as
    /// many connections.
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// Numbers of worker processes to measure, each with a fresh batch.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4")]
    workers: Vec<usize>,
    /// Which part to run.
    #[arg(long, value_enum, default_value_t = Part::All)]
    part: Part,
    /// Run against a fresh SQLite file instead of PostgreSQL.
    #[arg(long)]
    sqlite: bool,
    /// An existing PostgreSQL database to connect to; the benchmark creates
    /// and drops its own databases next to it.
    #[arg(long, env = "FERRY_BENCH_PG_URL", default_value = "postgres://postgres@127.0.0.1:5432/test")]
    pg_url: String,
    /// Where the SQLite files go (default: the system's temporary directory).
    #[arg(long)]
    sqlite_dir: Option<PathBuf>,
    /// Override `FERRY_WORKER__CONCURRENCY` (ferry's default when absent).
    #[arg(long)]
    worker_concurrency: Option<usize>,
    /// Override `FERRY_WORKER__POLL_MS` (ferry's default when absent).
    #[arg(long)]
    poll_ms: Option<u64>,
    /// `RUST_LOG` for ferry's processes. Anything above `warn` costs time
    /// that then shows in the figures; use it only to find where time goes.
    #[arg(long, default_value = "warn")]
    ferry_log: String,
    /// Keep the full output of every ferry process in this directory.
    #[arg(long)]
    log_dir: Option<PathBuf>,
    /// Where `ferry-api` and `ferry-worker` are (default: next to this binary).
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// Longest wait for one batch of tasks to be run.
    #[arg(long, default_value_t = 300)]
    timeout_secs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Part {
    All,
    Submit,
    Run,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(args.n > 0 && args.clients > 0, "--n and --clients must be positive");
    anyhow::ensure!(
        args.workers.iter().all(|w| *w > 0),
        "--workers must list positive counts"
    );
    let server = if args.sqlite {
        Server::Sqlite {
            dir: args.sqlite_dir.clone().unwrap_or_else(std::env::temp_dir),
        }
    } else {
        Server::Postgres {
            admin_url: args.pg_url.clone(),
        }
    };
    let bin_dir = match &args.bin_dir {
        Some(dir) => dir.clone(),
        None => std::env::current_exe()?
            .parent()
            .context("the bench binary has no parent directory")?
            .to_owned(),
    };
    let knobs = WorkerKnobs {
        concurrency: args.worker_concurrency,
        poll_ms: args.poll_ms,
    };
    let logs = LogOptions {
        filter: args.ferry_log.clone(),
        dir: args.log_dir.clone(),
    };
    println!("ferry-bench tasks");
    println!("  machine:  {}", machine());
    println!("  database: {}", server.describe().await?);
    println!(
        "  load:     n={} per measurement, {} HTTP clients, workers {:?}, worker concurrency {}, poll {}",
        args.n,
        args.clients,
        args.workers,
        knobs.concurrency.map_or("ferry default".to_owned(), |c| c.to_string()),
        knobs.poll_ms.map_or("ferry default".to_owned(), |p| format!("{p} ms")),
    );

    let mut ratios = Vec::new();
    if args.part != Part::Run {
        let ratio = with_db(&server, args.clients as u32, async |db| {
            submit_part(&args, &bin_dir, &knobs, &logs, db).await
        })
        .await?;
        ratios.push(ratio);
    }
    if args.part != Part::Submit {
        let max_workers = args.workers.iter().copied().max().unwrap_or(1);
        let run_ratios = with_db(&server, max_workers as u32 + 2, async |db| {
            run_part(&args, &bin_dir, &knobs, &logs, db).await
        })
        .await?;
        ratios.extend(run_ratios);
    }
    println!("{}", stats::verdict(&ratios));
    Ok(())
}

/// Runs `body` on a fresh database and removes the database afterwards,
/// whether `body` succeeded, failed or was interrupted with Ctrl-C.
async fn with_db<T>(
    server: &Server,
    pool_size: u32,
    body: impl AsyncFnOnce(&BenchDb) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let db = BenchDb::create(server, pool_size).await?;
    let result = tokio::select! {
        result = body(&db) => result,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
    };
    db.destroy().await;
    result
}

/// Part 1: submissions through the API beside raw INSERTs.
async fn submit_part(
    args: &Args,
    bin_dir: &std::path::Path,
    knobs: &WorkerKnobs,
    logs: &LogOptions,
    db: &BenchDb,
) -> anyhow::Result<Ratio> {
    let env = FerryEnv::new(bin_dir, db.url(), knobs, logs)?;
    let api = env.start_api().await?;
    let client = TasksClient::new(&api, env.token(), args.clients)?;
    baseline::create_raw_tasks(db.pool()).await?;

    // A short warm-up on both paths opens every pooled connection and fills
    // the statement caches, so that neither pays for it in the measurement
    // (it would otherwise show up in p99).
    let warmup = args.clients * 4;
    client.submit_many(warmup, args.clients).await?;
    baseline::insert_tasks(db.pool(), warmup, args.clients).await?;

    let ferry = client.submit_many(args.n, args.clients).await?;
    let raw = baseline::insert_tasks(db.pool(), args.n, args.clients).await?;
    api.process.stop().await;

    let ratio = Ratio::new("submit", ferry.per_second(), raw.per_second());
    println!(
        "submit: {} tasks/s ({}) | raw INSERT: {} rows/s ({}) | {}",
        stats::rate(ferry.per_second()),
        ferry.latencies.summary(),
        stats::rate(raw.per_second()),
        raw.latencies.summary(),
        ratio.describe()
    );
    Ok(ratio)
}

/// Part 2: batches of no-op tasks run by 1, 2, 4 workers beside as many raw
/// SKIP LOCKED loops. The raw loops run first for each count, then ferry's
/// batch, so that both see the machine in the same state.
async fn run_part(
    args: &Args,
    bin_dir: &std::path::Path,
    knobs: &WorkerKnobs,
    logs: &LogOptions,
    db: &BenchDb,
) -> anyhow::Result<Vec<Ratio>> {
    let env = FerryEnv::new(bin_dir, db.url(), knobs, logs)?;
    baseline::create_raw_jobs(db.pool()).await?;
    let timeout = Duration::from_secs(args.timeout_secs);

    let mut ratios = Vec::new();
    let mut total = 0;
    for &workers in &args.workers {
        baseline::enqueue_jobs(db.pool(), args.n).await?;
        let (raw_done, raw_elapsed) = baseline::drain_jobs(db.pool(), workers).await?;
        anyhow::ensure!(
            raw_done == args.n,
            "the raw loops did {raw_done} jobs, expected {}",
            args.n
        );
        let raw_rate = stats::per_second(raw_done, raw_elapsed);

        // The API has no worker, so the whole batch waits in the queue until
        // the workers start. It is stopped before they do: its pooled
        // connections would otherwise count against PostgreSQL's
        // max_connections (100 by default, and each ferry process pools up
        // to 32), and its CPU use would be noise in the workers' figure.
        let api = env.start_api().await?;
        TasksClient::new(&api, env.token(), args.clients)?
            .submit_many(args.n, args.clients)
            .await?;
        api.process.stop().await;
        total += args.n;
        let run = ferry_path::run_batch(&env, db.pool(), workers, total, timeout).await?;
        anyhow::ensure!(
            run.count == args.n,
            "{} tasks of the batch ran, expected {}",
            run.count,
            args.n
        );

        let plural = if workers == 1 { "" } else { "s" };
        let ratio = Ratio::new(format!("run x{workers}"), run.per_second(), raw_rate);
        println!(
            "run, {workers} worker{plural}: {} tasks/s ({} in {:.2} s first claim to last finish; {:.2} s from spawn) \
             | raw SKIP LOCKED, {workers} loop{plural}: {} jobs/s ({:.2} s) | {}",
            stats::rate(run.per_second()),
            run.count,
            run.window.as_secs_f64(),
            run.wall.as_secs_f64(),
            stats::rate(raw_rate),
            raw_elapsed.as_secs_f64(),
            ratio.describe()
        );
        ratios.push(ratio);
    }
    Ok(ratios)
}

/// CPUs, CPU model and memory, read from Linux's /proc where available.
fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split_once(':')))
        .map_or("unknown CPU", |(_, m)| m.trim())
        .to_owned();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_gib = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|r| r.split_whitespace().next()?.parse::<f64>().ok())
        .map_or("unknown memory".to_owned(), |kib| format!("{:.1} GiB", kib / 1024.0 / 1024.0));
    format!("{cpus} CPUs, {model}, {mem_gib}")
}
