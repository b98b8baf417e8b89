//! `ferry-bench changefeed`: rows/s replicated from a MariaDB binlog into a
//! MariaDB downstream through a changefeed, beside the same rows written
//! directly into the downstream with the same batched multi-row INSERTs (the
//! limit); then end-to-end lag p50/p99 at a steady insert rate; then the
//! margin a pause or resume call adds to its task's work when the API and a
//! worker are separate processes on PostgreSQL ([`pause`]).

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use ferry_tests::{
    LaunchOptions,
    mariadb::{MariaDb, MysqlServer, system_server},
};
use serde_json::{Value, json};
use sqlx::{Connection, MySqlConnection, Row};

use crate::stats;

mod pause;

/// The goal: replication reaches at least 0.7 of the direct write rate.
const GOAL: f64 = 0.7;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Rows for the throughput figure.
    #[arg(long, default_value_t = 100_000)]
    pub rows: usize,
    /// Rows per INSERT statement, on both sides.
    #[arg(long, default_value_t = 500)]
    pub batch: usize,
    /// Steady insert rate for the lag figure (rows/s).
    #[arg(long, default_value_t = 5_000)]
    pub lag_rate: usize,
    /// How long the steady load runs.
    #[arg(long, default_value_t = 20)]
    pub lag_seconds: u64,
    /// Pause/resume cycles for the margin a waiting TiEM call adds to its
    /// task's work, with the API and a worker in separate processes on
    /// PostgreSQL (0 skips it).
    #[arg(long, default_value_t = 50)]
    pub pause_cycles: usize,
    /// The changefeed's parallel appliers (TiEM `workerCount`).
    #[arg(long, default_value_t = 8)]
    pub worker_count: usize,
    /// Rows per downstream transaction (TiEM `maxTxnRow`).
    #[arg(long, default_value_t = 2000)]
    pub max_txn_row: usize,
    #[arg(long)]
    pub bin_dir: Option<std::path::PathBuf>,
    #[arg(long, default_value = "warn")]
    pub ferry_log: String,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let launch = crate::ferry::default_launch(args.bin_dir.as_deref(), &args.ferry_log, None)?;
    let upstream = MariaDb::start().await;
    let downstream = system_server();
    let db = format!(
        "bench_cf_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    );
    let table = |name: &str| {
        format!(
            "CREATE TABLE `{db}`.`{name}` (id BIGINT PRIMARY KEY, payload VARCHAR(100), n INT, at DATETIME(3))"
        )
    };
    for server in [upstream.server(), &downstream] {
        server.exec(&format!("CREATE DATABASE `{db}`")).await;
        server.exec(&table("feed")).await;
    }
    downstream.exec(&table("direct")).await;
    let mut result = measure(&args, launch.clone(), &upstream, &downstream, &db).await;
    if result.is_ok() && args.pause_cycles > 0 {
        let body = json!({
            "downstreamType": "mysql",
            "downstream": { "ip": downstream.host, "port": downstream.port, "username": downstream.user },
            "rules": [format!("{db}.feed")],
        });
        result = pause::measure(launch, &upstream, body, args.pause_cycles).await;
    }
    downstream
        .exec(&format!("DROP DATABASE IF EXISTS `{db}`"))
        .await;
    result
}

async fn measure(
    args: &Args,
    launch: LaunchOptions,
    upstream: &MariaDb,
    downstream: &MysqlServer,
    db: &str,
) -> anyhow::Result<()> {
    let app = crate::ferry::scratch_app("cf", launch, false).await?;
    let _worker = crate::ferry::start_worker(&app)?;
    let http = reqwest::Client::builder().no_proxy().build()?;
    let (base, token) = (app.address.clone(), app.admin_token.clone());

    println!("ferry-bench changefeed");
    println!(
        "  upstream:   scratch MariaDB (binlog ROW) on port {}",
        upstream.port()
    );
    println!(
        "  downstream: MariaDB at {}:{}; ferry on SQLite with one ferry-worker; workerCount {}, maxTxnRow {}",
        downstream.host, downstream.port, args.worker_count, args.max_txn_row
    );

    let id = create_changefeed(
        &http,
        &base,
        &token,
        upstream.port(),
        json!({
            "downstreamType": "mysql",
            "downstream": { "ip": downstream.host, "port": downstream.port, "username": downstream.user, "workerCount": args.worker_count, "maxTxnRow": args.max_txn_row },
            "rules": [format!("{db}.feed")],
        }),
    )
    .await?;

    // The limit: the same rows, the same statements, straight into the downstream.
    let mut down = MySqlConnection::connect(&downstream.url()).await?;
    let started = Instant::now();
    insert_rows(&mut down, db, "direct", 0, args.rows, args.batch).await?;
    let direct = stats::per_second(args.rows, started.elapsed());

    // Through ferry: the rows wait in the upstream's binlog while the
    // changefeed is paused; the clock runs from resume until the downstream
    // has them all, so it measures replication, not the upstream's inserts.
    let mut up = MySqlConnection::connect(&upstream.server().url()).await?;
    operate(&http, &base, &token, &id, "pause").await?;
    let loading = Instant::now();
    insert_rows(&mut up, db, "feed", 0, args.rows, args.batch).await?;
    let inserted = loading.elapsed();
    let resumed = Instant::now();
    operate(&http, &base, &token, &id, "resume").await?;
    // A worker picks the resumed changefeed up within a supervisor tick; the
    // rate is measured from the first replicated row on.
    let first_row = loop {
        let max = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT COALESCE(MAX(id), -1) FROM `{db}`.`feed`"
        )))
        .fetch_one(&mut down)
        .await?
        .try_get::<i64, _>(0)?;
        if max >= 0 {
            break Instant::now();
        }
        if resumed.elapsed() > Duration::from_secs(60) {
            bail!("nothing replicated within 60 s of resume");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    wait_count(
        &mut down,
        db,
        "feed",
        args.rows,
        args.rows - 1,
        Duration::from_secs(600),
    )
    .await?;
    let replicated = stats::per_second(args.rows, first_row.elapsed());
    println!(
        "  resume:     first row downstream {} after resume",
        stats::ms(first_row - resumed)
    );
    let ratio = replicated / direct.max(1e-9);
    println!(
        "  direct:     {} rows/s ({} rows in INSERTs of {})",
        stats::rate(direct),
        args.rows,
        args.batch
    );
    println!(
        "  replicated: {} rows/s (catch-up of a paused backlog; the upstream took {:.2} s to insert it) | ratio {ratio:.2} (goal >= {GOAL}) {}",
        stats::rate(replicated),
        inserted.as_secs_f64(),
        if ratio >= GOAL { "MET" } else { "MISSED" }
    );

    let lags = steady_lag(args, &mut up, &mut down, db).await?;
    let p50 = lags.percentile(50.0);
    let p99 = lags.percentile(99.0);
    println!(
        "  lag:        p50 {}, p99 {} at {} rows/s for {} s (goal p99 < 1 s) {}",
        stats::ms(p50),
        stats::ms(p99),
        args.lag_rate,
        args.lag_seconds,
        if p99 < Duration::from_secs(1) {
            "MET"
        } else {
            "MISSED"
        }
    );
    Ok(())
}

/// Registers the upstream on `upstream_port` and creates a changefeed named
/// `bench` from it with the rest of `body`; returns its id once it is Normal.
pub(crate) async fn create_changefeed(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    upstream_port: u16,
    mut body: Value,
) -> anyhow::Result<String> {
    let cluster: Value = http
        .post(format!("{base}/api/v1/clusters"))
        .bearer_auth(token)
        .json(&json!({ "name": "up", "kind": "mysql", "host": "127.0.0.1", "port": upstream_port, "user": "root" }))
        .send()
        .await?
        .json()
        .await?;
    body["clusterId"] = cluster["id"].clone();
    body["name"] = json!("bench");
    let created: Value = http
        .post(format!("{base}/api/v1/changefeeds/"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await?
        .json()
        .await?;
    if created["code"] != 0 {
        bail!("changefeed creation failed: {created}");
    }
    let id = created["data"]["id"]
        .as_str()
        .context("changefeed id")?
        .to_owned();
    wait_normal(http, base, token, &id).await?;
    Ok(id)
}

pub(crate) async fn operate(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    id: &str,
    op: &str,
) -> anyhow::Result<()> {
    let reply: Value = http
        .post(format!("{base}/api/v1/changefeeds/{id}/{op}"))
        .bearer_auth(token)
        .send()
        .await?
        .json()
        .await?;
    if reply["code"] != 0 {
        bail!("{op} failed: {reply}");
    }
    Ok(())
}

async fn wait_normal(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    id: &str,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let d: Value = http
            .get(format!("{base}/api/v1/changefeeds/{id}/"))
            .bearer_auth(token)
            .send()
            .await?
            .json()
            .await?;
        if d["data"]["status"] == "Normal" && d["data"]["unsteady"] == false {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("changefeed did not become Normal: {d}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub(crate) async fn insert_rows(
    conn: &mut MySqlConnection,
    db: &str,
    table: &str,
    from: usize,
    n: usize,
    batch: usize,
) -> anyhow::Result<()> {
    let mut next = from;
    while next < from + n {
        let end = (next + batch).min(from + n);
        let values: Vec<String> = (next..end)
            .map(|i| format!("({i}, 'payload-{i:0>40}', {}, NOW(3))", i % 1000))
            .collect();
        let sql = format!("INSERT INTO `{db}`.`{table}` VALUES {}", values.join(","));
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut *conn)
            .await?;
        next = end;
    }
    Ok(())
}

async fn count(conn: &mut MySqlConnection, db: &str, table: &str) -> anyhow::Result<usize> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM `{db}`.`{table}`"
    )))
    .fetch_one(&mut *conn)
    .await?;
    Ok(row.try_get::<i64, _>(0)? as usize)
}

/// Waits until the table holds `n` rows, the newest being `last_id`. Polls the primary key's maximum
/// (an index lookup) and counts only once it is reached: a COUNT(*) every few
/// milliseconds would compete with the very writes being measured.
async fn wait_count(
    conn: &mut MySqlConnection,
    db: &str,
    table: &str,
    n: usize,
    last_id: usize,
    timeout: Duration,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let max = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT COALESCE(MAX(id), -1) FROM `{db}`.`{table}`"
        )))
        .fetch_one(&mut *conn)
        .await?
        .try_get::<i64, _>(0)?;
        if max >= last_id as i64 && count(conn, db, table).await? >= n {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("the downstream did not reach {n} rows within {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Inserts at a steady rate (a batch every 10 ms) and samples, every 50 ms,
/// how long ago the newest row the downstream has was inserted upstream.
async fn steady_lag(
    args: &Args,
    up: &mut MySqlConnection,
    down: &mut MySqlConnection,
    db: &str,
) -> anyhow::Result<stats::Latencies> {
    let per_tick = (args.lag_rate / 100).max(1);
    let first_id = args.rows + 1_000_000;
    let inserted_at: Arc<Mutex<Vec<(usize, Instant)>>> = Arc::default();
    let mut writer = {
        let inserted_at = inserted_at.clone();
        let url = up_url(up).await?;
        let (db, seconds) = (db.to_owned(), args.lag_seconds);
        tokio::spawn(async move {
            let mut conn = MySqlConnection::connect(&url).await?;
            let mut tick = tokio::time::interval(Duration::from_millis(10));
            let stop = Instant::now() + Duration::from_secs(seconds);
            let mut next = first_id;
            while Instant::now() < stop {
                tick.tick().await;
                insert_rows(&mut conn, &db, "feed", next, per_tick, per_tick).await?;
                next += per_tick;
                inserted_at
                    .lock()
                    .expect("lock")
                    .push((next - 1, Instant::now()));
            }
            anyhow::Ok(next)
        })
    };
    let mut samples = Vec::new();
    let mut sampler = tokio::time::interval(Duration::from_millis(50));
    let last_id = loop {
        sampler.tick().await;
        let newest = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT COALESCE(MAX(id), 0) FROM `{db}`.`feed`"
        )))
        .fetch_one(&mut *down)
        .await?
        .try_get::<i64, _>(0)? as usize;
        let now = Instant::now();
        {
            let log = inserted_at.lock().expect("lock");
            // The oldest insert not yet visible downstream, or nothing behind.
            if let Some((_, at)) = log.iter().find(|(id, _)| *id > newest) {
                samples.push(now - *at);
            } else if !log.is_empty() {
                samples.push(Duration::ZERO);
            }
        }
        if writer.is_finished() {
            break (&mut writer).await??;
        }
    };
    wait_count(
        down,
        db,
        "feed",
        args.rows + (last_id - first_id),
        last_id - 1,
        Duration::from_secs(120),
    )
    .await?;
    Ok(stats::Latencies::new(samples))
}

/// The upstream URL of a connection's server, for a second connection.
async fn up_url(conn: &mut MySqlConnection) -> anyhow::Result<String> {
    let port: u64 = sqlx::query("SELECT @@port")
        .fetch_one(&mut *conn)
        .await?
        .try_get(0)?;
    Ok(format!("mysql://root@127.0.0.1:{port}/"))
}
