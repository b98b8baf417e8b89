//! `ferry-bench tasks`: the durable-task path, in four parts, each beside its
//! raw limit (or its goal) on the same database server.
//!
//! 1. submit: `POST /api/v1/tasks` from concurrent clients against an API with
//!    no worker, beside single-row INSERTs into a copy of the `tasks` table.
//! 2. bulk: lists of 1,000 tasks in one `POST /api/v1/tasks`, beside
//!    multi-row INSERTs of the same rows (`bulk`).
//! 3. pickup (PostgreSQL): an idle worker in another process starting a task
//!    just submitted, and a waiting caller hearing it finished (`pickup`).
//! 4. run: a pre-enqueued batch of no-op `ping` tasks run by 1, 2 and 4
//!    `ferry-worker` processes, beside as many loops of
//!    `SELECT ... FOR UPDATE SKIP LOCKED` + `UPDATE` over a plain jobs table.
//!
//! With `--peers`, graphile-worker and pgqueuer are measured afterwards on
//! the same server and printed beside ferry's figures ([`peers`]).

mod baseline;
mod bulk;
mod cpu;
mod ferry_path;
mod peers;
mod pickup;

use std::{path::PathBuf, time::Duration};

use anyhow::Context;
use ferry_tests::{FerryProcess, LaunchOptions, Launcher, RawPool, TestDb};

use crate::{
    db::Server,
    ferry::{LogOptions, WorkerKnobs},
    load::Sample,
    stats::{self, Latencies, Ratio},
};
use ferry_path::TasksClient;

/// `database_max_connections` in ferry's built-in settings
/// (worker/src/settings.rs): the most connections one worker process opens.
/// A test checks that it still matches.
const FERRY_DEFAULT_DB_CONNECTIONS: u32 = 10;

/// `worker.concurrency` in ferry's built-in settings: the most tasks one
/// worker process runs at once. A test checks that it still matches.
const FERRY_DEFAULT_CONCURRENCY: usize = 64;

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
    /// Rounds of each measurement; figures are medians, and each ratio is the
    /// median of ratios of figures taken side by side in one round.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Numbers of worker processes to measure, each with a fresh batch.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4")]
    workers: Vec<usize>,
    /// Each task of the run part sleeps this long in its attempt. With a
    /// sleep, a worker's concurrency bounds its rate before the database
    /// does, which is where a second worker process must add its own share
    /// (the scale-out figure, issue #19).
    #[arg(long, default_value_t = 0)]
    sleep_ms: u64,
    /// Queue the run part's batches as bulk lists of 1,000 tasks (jobs of
    /// 100 tasks each, claimed and settled together) instead of one task
    /// per call (a job each). Not with --sleep-ms.
    #[arg(long)]
    lists: bool,
    /// Which part to run.
    #[arg(long, value_enum, default_value_t = Part::All)]
    part: Part,
    /// Run against a fresh SQLite file instead of PostgreSQL.
    #[arg(long)]
    sqlite: bool,
    /// An existing PostgreSQL database to connect to; the benchmark creates
    /// and drops its own databases next to it. Its query string goes to every
    /// client, ferry's and the peers' alike. The default turns TLS off for
    /// all of them: sqlx and libpq would use it on a server that offers it,
    /// and node-postgres (graphile-worker) would not, which measured the
    /// queues over different transports (docs/BENCHMARKS.md, session 18).
    #[arg(
        long,
        env = "FERRY_BENCH_PG_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
    )]
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
    /// Override `FERRY_DATABASE_MAX_CONNECTIONS`, the pool size of every
    /// ferry process (ferry's default when absent).
    #[arg(long)]
    db_connections: Option<u32>,
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
    #[command(flatten)]
    peers: peers::PeerArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Part {
    All,
    Submit,
    Bulk,
    Pickup,
    Run,
    /// Only the peer queues (implies --peers); ferry is not started.
    Peers,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.n > 0 && args.clients > 0 && args.rounds > 0,
        "--n, --clients and --rounds must be positive"
    );
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
    let knobs = WorkerKnobs {
        concurrency: args.worker_concurrency,
        poll_ms: args.poll_ms,
        db_connections: args.db_connections,
    };
    let logs = LogOptions {
        filter: args.ferry_log.clone(),
        dir: args.log_dir.clone(),
    };
    let with_peers = args.peers.peers || args.part == Part::Peers;
    anyhow::ensure!(
        !(with_peers && args.sqlite),
        "the peers run on PostgreSQL only; leave out --sqlite"
    );
    let launch = match args.part {
        Part::Peers => None,
        _ => Some(crate::ferry::launch_options(
            args.bin_dir.as_deref(),
            &knobs,
            &logs,
        )?),
    };
    println!("ferry-bench tasks");
    println!("  machine:  {}", machine());
    println!("  database: {}", server.describe().await?);
    println!(
        "  load:     n={} per measurement, {} rounds, {} HTTP clients, workers {:?}",
        args.n, args.rounds, args.clients, args.workers,
    );
    println!(
        "  ferry:    worker concurrency {}, poll {}, pool {} connections per process",
        knobs
            .concurrency
            .map_or("default".to_owned(), |c| c.to_string()),
        knobs
            .poll_ms
            .map_or("default".to_owned(), |p| format!("{p} ms")),
        knobs
            .db_connections
            .map_or(format!("default ({FERRY_DEFAULT_DB_CONNECTIONS})"), |c| c
                .to_string()),
    );

    let mut ratios = Vec::new();
    let mut goals_missed = Vec::new();
    // Ferry's figures for the table beside the peers.
    let mut ferry_column = peers::Column::new("ferry");
    if let (Part::All | Part::Submit, Some(launch)) = (args.part, &launch) {
        let (ratio, rates) = with_db(&server, args.clients as u32, async |db, pool| {
            submit_part(&args, launch, db, pool).await
        })
        .await?;
        ratios.push(ratio);
        ferry_column.set_rates(peers::Measurement::SubmitSingle, rates);
    }
    if let (Part::All | Part::Bulk, Some(launch)) = (args.part, &launch) {
        let (ratio, rates) = with_db(&server, 1, async |db, pool| {
            let ferry = Launcher::new(db, launch).map_err(anyhow::Error::msg)?;
            let (mut api, address) = start_api(&ferry).await?;
            baseline::create_raw_tasks(pool).await?;
            let client = TasksClient::new(&address, ferry.admin_token(), 1)?;
            let ratio = bulk::compare(&client, pool, args.n.max(bulk::LIST), args.rounds).await;
            api.kill();
            ratio
        })
        .await?;
        ratios.push(ratio);
        // Ferry takes at most 1,000 tasks per call: its bulk figure is N
        // tasks in calls of 1,000, where the peers take N in one call.
        ferry_column.set_rates(peers::Measurement::SubmitBulk, rates);
    }
    if let (Part::All | Part::Pickup, Some(launch), false) = (args.part, &launch, args.sqlite) {
        let measured = with_db(&server, 2, async |db, pool| {
            let ferry = Launcher::new(db, launch).map_err(anyhow::Error::msg)?;
            pickup::measure(&ferry, pool, PICKUP_TASKS).await
        })
        .await?;
        measured.print();
        if !measured.meets_goals() {
            goals_missed.push("pickup");
        }
    }
    if let (Part::All | Part::Run, Some(launch)) = (args.part, &launch) {
        // The raw loops open their own connections; this pool only enqueues
        // and watches the tasks table.
        let (run_ratios, rates) = with_db(&server, 2, async |db, pool| {
            run_part(&args, launch, &knobs, db, pool).await
        })
        .await?;
        ratios.extend(run_ratios);
        for (workers, rates) in rates {
            ferry_column.set_rates(peers::Measurement::Drain(workers), rates);
        }
    }
    if !ratios.is_empty() {
        println!("{}", stats::verdict(&ratios));
    }
    if with_peers {
        let setup = peers::Setup {
            server: server.clone(),
            n: args.n,
            rounds: args.rounds,
            clients: args.clients,
            concurrency: knobs.concurrency.unwrap_or(FERRY_DEFAULT_CONCURRENCY),
            connections: knobs.db_connections.unwrap_or(FERRY_DEFAULT_DB_CONNECTIONS),
            timeout: Duration::from_secs(args.timeout_secs),
        };
        peers::run(&args.peers, &setup, ferry_column).await?;
    }
    if !goals_missed.is_empty() {
        println!("latency goals missed: {}", goals_missed.join(", "));
    }
    Ok(())
}

/// Tasks timed one at a time in the pickup part.
const PICKUP_TASKS: usize = 200;

/// Runs `body` on a fresh database and a pool of `pool_size` connections to
/// it for the raw baselines, and removes the database afterwards, whether
/// `body` succeeded, failed or was interrupted with Ctrl-C.
async fn with_db<T>(
    server: &Server,
    pool_size: u32,
    body: impl AsyncFnOnce(&TestDb, &RawPool) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let db = server.create().await?;
    let pool = db
        .open_pool(pool_size)
        .await
        .context("cannot connect to the new database")?;
    let result = tokio::select! {
        result = body(&db, &pool) => result,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
    };
    pool.close().await;
    // Dropping `db` removes the database.
    result
}

/// Part 1: submissions through the API beside raw INSERTs, in rounds that
/// alternate which side goes first. Returns the ratio and ferry's rate of
/// each round.
async fn submit_part(
    args: &Args,
    launch: &LaunchOptions,
    db: &TestDb,
    pool: &RawPool,
) -> anyhow::Result<(Ratio, Vec<f64>)> {
    let ferry = Launcher::new(db, launch).map_err(anyhow::Error::msg)?;
    let (mut api, address) = start_api(&ferry).await?;
    let client = TasksClient::new(&address, ferry.admin_token(), args.clients)?;
    let project_token = ferry_path::mint_project_token(&address, ferry.admin_token()).await?;
    let project = TasksClient::new(&address, &project_token, args.clients)?;
    baseline::create_raw_tasks(pool).await?;

    // A short warm-up on both paths opens every pooled connection and fills
    // the statement caches, so that neither pays for it in the measurement
    // (it would otherwise show up in p99).
    let warmup = args.clients * 4;
    client.submit_many(warmup, args.clients).await?;
    project.submit_many(warmup, args.clients).await?;
    baseline::insert_tasks(pool, warmup, args.clients).await?;

    let mut ferry = Vec::new();
    let mut raw = Vec::new();
    let mut scoped = Vec::new();
    for round in 0..args.rounds {
        if round % 2 == 0 {
            ferry.push(client.submit_many(args.n, args.clients).await?);
            scoped.push(project.submit_many(args.n, args.clients).await?);
            raw.push(baseline::insert_tasks(pool, args.n, args.clients).await?);
        } else {
            raw.push(baseline::insert_tasks(pool, args.n, args.clients).await?);
            scoped.push(project.submit_many(args.n, args.clients).await?);
            ferry.push(client.submit_many(args.n, args.clients).await?);
        }
    }
    api.kill();
    // The cost of authorization and the limiter: a project ADMIN's token
    // (scope checks, a rate-limit bucket) beside the global admin's (no
    // bucket), measured in the same rounds.
    let scoped_pairs: Vec<(f64, f64)> = scoped
        .iter()
        .zip(&ferry)
        .map(|(p, g)| (p.per_second(), g.per_second()))
        .collect();
    let scoped_ratio = Ratio::from_rounds("project-token submit", &scoped_pairs);
    println!(
        "project-token submit: {} tasks/s | global admin: {} tasks/s | {} (limit: within 10%, >= 0.90)",
        stats::rate(stats::median(
            &scoped.iter().map(Sample::per_second).collect::<Vec<_>>()
        )),
        stats::rate(stats::median(
            &ferry.iter().map(Sample::per_second).collect::<Vec<_>>()
        )),
        scoped_ratio.describe()
    );

    let rate = |samples: &[Sample]| {
        stats::median(&samples.iter().map(Sample::per_second).collect::<Vec<_>>())
    };
    let pairs: Vec<(f64, f64)> = ferry
        .iter()
        .zip(&raw)
        .map(|(f, r)| (f.per_second(), r.per_second()))
        .collect();
    let ratio = Ratio::from_rounds("submit", &pairs);
    println!(
        "submit: {} tasks/s ({}) | raw INSERT: {} rows/s ({}) | {}",
        stats::rate(rate(&ferry)),
        Latencies::merge(ferry.iter().map(|s| &s.latencies)).summary(),
        stats::rate(rate(&raw)),
        Latencies::merge(raw.iter().map(|s| &s.latencies)).summary(),
        ratio.describe()
    );
    Ok((ratio, ferry.iter().map(Sample::per_second).collect()))
}

/// Part 2: batches of no-op tasks run by 1, 2, 4 workers. Each count is
/// compared with two raw limits: as many SKIP LOCKED loops as workers (the
/// issue's baseline), and as many loops as the workers have database
/// connections, which is the parallelism ferry itself brings to the database.
/// In each round the raw loops run first, then ferry's batch, so that each
/// ratio compares figures taken seconds apart. Returns the ratios and, per
/// worker count, ferry's rate of each round (none after a failure).
async fn run_part(
    args: &Args,
    launch: &LaunchOptions,
    knobs: &WorkerKnobs,
    db: &TestDb,
    pool: &RawPool,
) -> anyhow::Result<(Vec<Ratio>, Vec<(usize, Vec<f64>)>)> {
    let ferry = Launcher::new(db, launch).map_err(anyhow::Error::msg)?;
    baseline::create_raw_jobs(pool).await?;
    let timeout = Duration::from_secs(args.timeout_secs);
    let connections_per_worker =
        knobs.db_connections.unwrap_or(FERRY_DEFAULT_DB_CONNECTIONS) as usize;
    let plural = |n: usize| if n == 1 { "" } else { "s" };

    let mut ratios = Vec::new();
    let mut ferry_rates = Vec::new();
    let mut total = 0;
    for &workers in &args.workers {
        // The raw loops run jobs that do nothing; beside sleeping tasks they
        // would measure another workload, so a sleeping run has no raw side.
        let loop_counts = if args.sleep_ms == 0 {
            vec![workers, workers * connections_per_worker]
        } else {
            Vec::new()
        };
        // Per round: ferry's rate, then the raw rate for each loop count.
        let mut rounds: Vec<(f64, Vec<f64>)> = Vec::new();
        let mut failure = None;
        for _ in 0..args.rounds {
            let mut raw_rates = Vec::new();
            for &loops in &loop_counts {
                baseline::enqueue_jobs(pool, args.n).await?;
                let (done, elapsed) = baseline::drain_jobs(db, loops).await?;
                anyhow::ensure!(
                    done == args.n,
                    "the raw loops did {done} jobs, expected {}",
                    args.n
                );
                raw_rates.push(stats::per_second(done, elapsed));
            }
            total += args.n;
            match ferry_batch(args, &ferry, pool, workers, total, timeout).await {
                Ok(rate) => rounds.push((rate, raw_rates)),
                Err(err) => {
                    failure = Some(err);
                    break;
                }
            }
        }

        let ferry_rate = stats::median(&rounds.iter().map(|(f, _)| *f).collect::<Vec<_>>());
        match &failure {
            None => println!(
                "run, {workers} worker{}: {} tasks/s (median of {} batches of {} tasks, first claim to last finish)",
                plural(workers),
                stats::rate(ferry_rate),
                rounds.len(),
                args.n,
            ),
            Some(err) => {
                let first_line = err
                    .to_string()
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                println!(
                    "run, {workers} worker{}: FAILED: {first_line}",
                    plural(workers)
                );
                eprintln!("{err:?}");
            }
        }
        for (i, loops) in loop_counts.into_iter().enumerate() {
            let raw_rates: Vec<f64> = rounds.iter().map(|(_, raw)| raw[i]).collect();
            let label = format!("run x{workers} vs {loops} loop{}", plural(loops));
            let ratio = if failure.is_some() {
                Ratio::new(label, 0.0, 1.0)
            } else {
                let pairs: Vec<(f64, f64)> = rounds.iter().map(|(f, raw)| (*f, raw[i])).collect();
                Ratio::from_rounds(label, &pairs)
            };
            println!(
                "    vs raw {}, {loops} loop{}: {} jobs/s | {}",
                baseline::claim_name(pool),
                plural(loops),
                stats::rate(stats::median(&raw_rates)),
                ratio.describe()
            );
            ratios.push(ratio);
        }
        if failure.is_some() {
            ferry_rates.push((workers, Vec::new()));
            // The failed batch may still sit in the queue, where it would
            // become work for the next count's workers.
            println!("    (later worker counts skipped)");
            break;
        }
        ferry_rates.push((workers, rounds.iter().map(|(f, _)| *f).collect()));
    }
    if let Some(line) = scale_out(&ferry_rates, args.sleep_ms) {
        println!("{line}");
    }
    Ok((ratios, ferry_rates))
}

/// The second worker process's share: the median rate of 2 processes over
/// that of 1, beside the goal, when both were measured.
fn scale_out(rates: &[(usize, Vec<f64>)], sleep_ms: u64) -> Option<String> {
    let median_of = |workers: usize| {
        rates
            .iter()
            .find(|(w, r)| *w == workers && !r.is_empty())
            .map(|(_, r)| stats::median(r))
    };
    let (one, two) = (median_of(1)?, median_of(2)?);
    let factor = two / one;
    let verdict = if factor >= SCALE_OUT_GOAL {
        ""
    } else {
        "  MISSES GOAL"
    };
    Some(format!(
        "scale-out: 2 worker processes {} tasks/s / 1 process {} tasks/s = {factor:.2}x (tasks sleeping {sleep_ms} ms; goal >= {SCALE_OUT_GOAL}x where the database is not the limit){verdict}",
        stats::rate(two),
        stats::rate(one),
    ))
}

/// Issue #19: two worker processes drain at least this many times what one
/// does, when the database is not the limit.
const SCALE_OUT_GOAL: f64 = 1.6;

/// Queues one batch through the API, runs it with `workers` worker processes
/// and returns ferry's rate for it.
async fn ferry_batch(
    args: &Args,
    ferry: &Launcher,
    pool: &RawPool,
    workers: usize,
    expected_total: usize,
    timeout: Duration,
) -> anyhow::Result<f64> {
    // The API has no worker, so the whole batch waits in the queue until the
    // workers start. It is stopped before they do, so that its CPU use and
    // pooled connections are no part of the workers' figure.
    let (mut api, address) = start_api(ferry).await?;
    let client = TasksClient::new(&address, ferry.admin_token(), args.clients)?;
    if args.lists {
        anyhow::ensure!(
            args.sleep_ms == 0,
            "--lists queues no-op tasks: drop --sleep-ms"
        );
        bulk::ferry(&client, args.n).await?;
    } else {
        client
            .sleeping(args.sleep_ms)
            .submit_many(args.n, args.clients)
            .await?;
    }
    api.kill();
    let run = ferry_path::run_batch(ferry, pool, workers, expected_total, timeout).await?;
    anyhow::ensure!(
        run.count == args.n,
        "{} tasks of the batch ran, expected {}",
        run.count,
        args.n
    );
    println!(
        "    {workers} worker{}: {} tasks/s; first claims {} ms apart; CPU {}",
        if workers == 1 { "" } else { "s" },
        stats::rate(run.per_second()),
        run.first_claims_apart.as_millis(),
        run.cpu.describe()
    );
    Ok(run.per_second())
}

/// Starts `ferry-api` without an in-process worker, so that submitted tasks
/// only accumulate, and waits until it listens; returns it and its address.
async fn start_api(ferry: &Launcher) -> anyhow::Result<(FerryProcess, String)> {
    ferry
        .spawn_api(false, &[])
        .await
        .map_err(anyhow::Error::msg)
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
        .map_or("unknown memory".to_owned(), |kib| {
            format!("{:.1} GiB", kib / 1024.0 / 1024.0)
        });
    format!("{cpus} CPUs, {model}, {mem_gib}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn default_pool_size_matches_ferry() {
        let settings =
            ferry_service::settings::Settings::load(None).expect("ferry's defaults load");
        assert_eq!(
            settings.database_max_connections,
            super::FERRY_DEFAULT_DB_CONNECTIONS
        );
        assert_eq!(
            settings.worker.concurrency,
            super::FERRY_DEFAULT_CONCURRENCY
        );
    }
}
