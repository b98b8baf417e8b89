//! `ferry-bench topics`: 1,000 topics through TubeMQ's addTopicTask (10
//! requests of 100) until all are writable, beside one direct batched
//! CreateTopics of 1,000 other topics with the rdkafka admin client plus the
//! same writability wait, on the same tansu broker in the same run; then the
//! same creation through the `ferry` command line (`topics ensure --wait`)
//! beside ferry's addTopicTask time. Also the addTopicTask request rate and
//! its p99 latency.

use std::{
    collections::HashSet,
    path::PathBuf,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use ferry_tests::{binaries, kafka::TestKafka};
use rdkafka::{
    admin::{AdminClient, AdminOptions, NewTopic, TopicReplication},
    client::DefaultClientContext,
};
use serde_json::{Value, json};

use crate::{
    ferry::{LogOptions, WorkerKnobs},
    load::closed_loop,
    stats,
};

/// The goal: ferry takes at most 1.5 times as long as the direct call.
const GOAL: f64 = 1.5;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Topics per side.
    #[arg(long, default_value_t = 1000)]
    pub topics: usize,
    /// Topics per addTopicTask request.
    #[arg(long, default_value_t = 100)]
    pub per_request: usize,
    /// Requests of one topic each for the request-rate figure.
    #[arg(long, default_value_t = 300)]
    pub rate_requests: usize,
    /// Concurrent clients for the request-rate figure.
    #[arg(long, default_value_t = 8)]
    pub clients: usize,
    /// Where ferry-api and ferry-worker are (default: beside this binary).
    #[arg(long)]
    pub bin_dir: Option<PathBuf>,
    /// Worker concurrency (default: ferry's).
    #[arg(long)]
    pub worker_concurrency: Option<usize>,
    /// How often an idle worker polls the queue (default: ferry's).
    #[arg(long)]
    pub poll_ms: Option<u64>,
    /// Run the worker as its own `ferry-worker` process instead of inside
    /// `ferry-api` (`--with-worker`, the embedded default).
    #[arg(long)]
    pub separate_worker: bool,
    /// RUST_LOG for ferry's processes.
    #[arg(long, default_value = "warn")]
    pub ferry_log: String,
    /// Write each ferry process's whole output to a file in this directory.
    #[arg(long)]
    pub log_dir: Option<PathBuf>,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.topics > 0 && args.per_request > 0,
        "--topics and --per-request must be positive"
    );
    let knobs = WorkerKnobs {
        concurrency: args.worker_concurrency,
        poll_ms: args.poll_ms,
        ..Default::default()
    };
    let logs = LogOptions {
        filter: args.ferry_log.clone(),
        dir: args.log_dir.clone(),
    };
    let launch = crate::ferry::launch_options(args.bin_dir.as_deref(), &knobs, &logs)?;
    let cli = launch
        .bin_dir
        .as_deref()
        .map(|dir| binaries::find_in(dir, binaries::CLI))
        .context("the binaries' directory")?
        .map_err(anyhow::Error::msg)?;
    let broker = TestKafka::start().await;
    let app = crate::ferry::scratch_app("topics", launch, !args.separate_worker).await?;
    let _worker = if args.separate_worker {
        Some(crate::ferry::start_worker(&app)?)
    } else {
        None
    };
    let http = reqwest::Client::builder().no_proxy().build()?;
    let base = app.address.clone();
    let token = app.admin_token.clone();

    println!("ferry-bench topics");
    println!(
        "  broker:   tansu 0.6.0 (memory storage) at {}",
        broker.bootstrap()
    );
    println!(
        "  ferry:    SQLite metadata store, {}, worker concurrency {}, poll {}",
        if args.separate_worker {
            "worker in its own process (ferry-worker)"
        } else {
            "worker inside ferry-api (--with-worker)"
        },
        args.worker_concurrency
            .map_or("ferry default".into(), |c| c.to_string()),
        args.poll_ms
            .map_or("ferry default".into(), |p| format!("{p} ms")),
    );
    let cluster_id: i64 = crate::ferry::register_broker(&http, &base, &token, &broker)
        .await?
        .parse()?;

    // Both sides start warm: a first topic each builds the admin clients'
    // connections and metadata caches.
    let admin: AdminClient<DefaultClientContext> = broker.client()?;
    direct_create(&admin, &["warm-direct".to_owned()]).await?;
    submit(&http, &base, &token, cluster_id, &["warm-ferry".to_owned()]).await?;
    wait_succeeded(&http, &base, &token, 1).await?;

    // tansu's CreateTopics slows down as the broker holds more topics (1,000
    // direct topics took 0.10 s on an empty broker and 0.50 s beside 2,000),
    // so whichever side ran second would pay for the other's topics. Each
    // side's topics are therefore deleted before the next side runs, and the
    // direct side runs both before and after ferry: ferry is compared with
    // the mean of the two.
    let direct_before = timed_direct_run(&admin, "direct-a", args.topics).await?;
    let ferry_names: Vec<String> = (0..args.topics).map(|i| format!("ferry-{i:05}")).collect();
    let started = Instant::now();
    let mut request_latencies = Vec::new();
    for chunk in ferry_names.chunks(args.per_request) {
        let t = Instant::now();
        submit(&http, &base, &token, cluster_id, chunk).await?;
        request_latencies.push(t.elapsed());
    }
    wait_succeeded(&http, &base, &token, 1 + args.topics).await?;
    let ferry = started.elapsed();
    verify_writable(&admin, &ferry_names).await?;
    let per_request = stats::Latencies::new(request_latencies);
    println!(
        "  ferry:    {} topics in {} addTopicTask requests until every task succeeded: {} (request p50 {}, p99 {})",
        args.topics,
        args.topics.div_ceil(args.per_request),
        secs(ferry),
        stats::ms(per_request.percentile(50.0)),
        stats::ms(per_request.percentile(99.0)),
    );
    println!(
        "            {}",
        timeline(&http, &base, &token, "ferry-").await?
    );
    delete_all(&admin, &ferry_names).await?;

    // The same creation through the command line (issue #21): `ferry topics
    // ensure --wait` of as many other topics, between the same deletions.
    let cli_names: Vec<String> = (0..args.topics).map(|i| format!("cli-{i:05}")).collect();
    let started = Instant::now();
    ensure_with_cli(&cli, &base, &token, cluster_id, &cli_names).await?;
    let through_cli = started.elapsed();
    verify_writable(&admin, &cli_names).await?;
    delete_all(&admin, &cli_names).await?;
    // The broker slows as a run goes on (each side's topics are deleted,
    // but the direct side after ferry is often slower than before it), so
    // the command line is compared with addTopicTask before and after it,
    // as ferry is with the direct side.
    let again_names: Vec<String> = (0..args.topics).map(|i| format!("again-{i:05}")).collect();
    let started = Instant::now();
    for chunk in again_names.chunks(args.per_request) {
        submit(&http, &base, &token, cluster_id, chunk).await?;
    }
    wait_succeeded(&http, &base, &token, 1 + 3 * args.topics).await?;
    let ferry_after = started.elapsed();
    verify_writable(&admin, &again_names).await?;
    delete_all(&admin, &again_names).await?;
    let around_cli = (ferry + ferry_after) / 2;
    let cli_ratio = through_cli.as_secs_f64() / around_cli.as_secs_f64().max(1e-9);
    println!(
        "  cli:      `ferry topics ensure --wait` of {} topics: {} | addTopicTask {} before, {} after (mean {}) | ratio {cli_ratio:.2} (goal <= {GOAL}) {}",
        args.topics,
        secs(through_cli),
        secs(ferry),
        secs(ferry_after),
        secs(around_cli),
        if cli_ratio <= GOAL { "MET" } else { "MISSED" }
    );
    let direct_after = timed_direct_run(&admin, "direct-b", args.topics).await?;
    let direct = (direct_before + direct_after) / 2;
    println!(
        "  direct:   {} topics in one CreateTopics + writability wait: {} before ferry, {} after (mean {})",
        args.topics,
        secs(direct_before),
        secs(direct_after),
        secs(direct)
    );
    let ratio = ferry.as_secs_f64() / direct.as_secs_f64().max(1e-9);
    println!(
        "  ratio:    ferry / direct = {ratio:.2} (goal <= {GOAL}) {}",
        if ratio <= GOAL { "MET" } else { "MISSED" }
    );

    // Request rate: one topic per request, answered once recorded and queued.
    let http2 = http.clone();
    let (base2, token2) = (base.clone(), token.clone());
    let sample = closed_loop(args.rate_requests, args.clients, move |i| {
        let (http, base, token) = (http2.clone(), base2.clone(), token2.clone());
        async move { submit(&http, &base, &token, cluster_id, &[format!("rate-{i:05}")]).await }
    })
    .await?;
    println!(
        "  requests: {} addTopicTask/s from {} clients (p50 {}, p99 {})",
        stats::rate(sample.per_second()),
        args.clients,
        stats::ms(sample.latencies.percentile(50.0)),
        stats::ms(sample.latencies.percentile(99.0)),
    );
    Ok(())
}

/// Runs `ferry topics ensure --cluster C NAMES... --wait` as a CI job would
/// and checks that it created every topic.
async fn ensure_with_cli(
    cli: &std::path::Path,
    base: &str,
    token: &str,
    cluster: i64,
    names: &[String],
) -> anyhow::Result<()> {
    let output = tokio::process::Command::new(cli)
        .args([
            "--output",
            "json",
            "topics",
            "ensure",
            "--wait",
            "--cluster",
        ])
        .arg(cluster.to_string())
        .args(names)
        .env("FERRY_URL", base)
        .env("FERRY_TOKEN", token)
        .output()
        .await
        .context("running ferry")?;
    if !output.status.success() {
        bail!(
            "ferry topics ensure answered {}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let report: Vec<Value> = serde_json::from_slice(&output.stdout)?;
    let created = report.iter().filter(|r| r["outcome"] == "created").count();
    if created != names.len() {
        bail!(
            "ferry topics ensure created {created} of {} topics",
            names.len()
        );
    }
    Ok(())
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

async fn submit(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    cluster: i64,
    names: &[String],
) -> anyhow::Result<()> {
    let topics: Vec<Value> = names.iter().map(|n| json!({ "topicName": n })).collect();
    let reply: Value = http
        .post(format!("{base}/v1/task?method=addTopicTask"))
        .bearer_auth(token)
        .json(&json!({ "clusterId": cluster, "addTopicTasks": topics, "user": "bench" }))
        .send()
        .await?
        .json()
        .await?;
    if reply["result"] != true {
        bail!("addTopicTask refused: {reply}");
    }
    Ok(())
}

/// Polls until `n` topic tasks have succeeded; fails on any failed task.
/// One request per poll, every 5 ms, so that the poll adds little to the
/// time measured (it added 10 ms on average at 20 ms, about 7 % of ferry's
/// time); failed tasks are counted every 20th poll.
async fn wait_succeeded(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    n: usize,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut polls = 0usize;
    loop {
        polls += 1;
        let count = |status: &'static str| {
            let url = format!("{base}/api/v1/tasks?kind=topic.create&status={status}&pageSize=1");
            let req = http.get(url).bearer_auth(token);
            async move {
                anyhow::Ok(
                    req.send().await?.json::<Value>().await?["total"]
                        .as_u64()
                        .unwrap_or(0),
                )
            }
        };
        if count("succeeded").await? as usize >= n {
            return Ok(());
        }
        let over = Instant::now() > deadline;
        if polls.is_multiple_of(20) || over {
            let failed = count("failed").await?;
            if failed > 0 {
                bail!("{failed} topic tasks failed");
            }
        }
        if over {
            bail!("topic tasks did not finish within 600 s");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Where ferry's time went, from the times the tasks record: when the last
/// task was accepted, when the first and the last started, and when the last
/// finished, each from the first task's acceptance.
async fn timeline(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    prefix: &str,
) -> anyhow::Result<String> {
    let mut times: Vec<[i64; 3]> = Vec::new();
    for page in 1.. {
        let url = format!("{base}/api/v1/tasks?kind=topic.create&pageSize=500&page={page}");
        let body: Value = http
            .get(url)
            .bearer_auth(token)
            .send()
            .await?
            .json()
            .await?;
        let tasks = body["data"].as_array().context("task list")?;
        if tasks.is_empty() {
            break;
        }
        let at = |t: &Value, field: &str| {
            t[field]
                .as_str()
                .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
                .map_or(0, |d| d.timestamp_micros())
        };
        times.extend(
            tasks
                .iter()
                .filter(|t| t["subject"].as_str().is_some_and(|s| s.starts_with(prefix)))
                .map(|t| [at(t, "createdAt"), at(t, "startedAt"), at(t, "finishedAt")]),
        );
    }
    anyhow::ensure!(!times.is_empty(), "no ferry topic tasks listed");
    let origin = times.iter().map(|t| t[0]).min().unwrap_or_default();
    let span = |i: usize, last: bool| {
        let values = times.iter().map(|t| t[i]);
        let v = if last { values.max() } else { values.min() };
        format!("{:.2} s", (v.unwrap_or_default() - origin) as f64 / 1e6)
    };
    Ok(format!(
        "(from the first task accepted: last accepted {}, first started {}, last started {}, last finished {})",
        span(0, true),
        span(1, false),
        span(1, true),
        span(2, true)
    ))
}

/// One CreateTopics request, then the same wait ferry does: every partition
/// of every topic has a leader in the metadata.
async fn direct_create(
    admin: &AdminClient<DefaultClientContext>,
    names: &[String],
) -> anyhow::Result<()> {
    let topics: Vec<NewTopic<'_>> = names
        .iter()
        .map(|n| NewTopic::new(n, 1, TopicReplication::Fixed(1)))
        .collect();
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(60)));
    for result in admin.create_topics(&topics, &opts).await? {
        if let Err((name, code)) = result {
            bail!("creating {name} directly failed: {code}");
        }
    }
    verify_writable(admin, names).await
}

/// Times [`direct_create`] of `count` topics named `<prefix>-NNNNN`, then
/// deletes them so that the next side meets the same broker.
async fn timed_direct_run(
    admin: &AdminClient<DefaultClientContext>,
    prefix: &str,
    count: usize,
) -> anyhow::Result<Duration> {
    let names: Vec<String> = (0..count).map(|i| format!("{prefix}-{i:05}")).collect();
    let started = Instant::now();
    direct_create(admin, &names).await?;
    let elapsed = started.elapsed();
    delete_all(admin, &names).await?;
    Ok(elapsed)
}

/// Deletes the topics and waits until the metadata no longer lists any.
async fn delete_all(
    admin: &AdminClient<DefaultClientContext>,
    names: &[String],
) -> anyhow::Result<()> {
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(60)));
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    for chunk in refs.chunks(1000) {
        for result in admin.delete_topics(chunk, &opts).await? {
            if let Err((name, code)) = result {
                bail!("deleting {name} failed: {code}");
            }
        }
    }
    let names: HashSet<&str> = refs.into_iter().collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let md = admin
            .inner()
            .fetch_metadata(None, Duration::from_secs(10))?;
        if !md.topics().iter().any(|t| names.contains(t.name())) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("deleted topics still listed after 120 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn verify_writable(
    admin: &AdminClient<DefaultClientContext>,
    names: &[String],
) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let md = admin
            .inner()
            .fetch_metadata(None, Duration::from_secs(10))?;
        let writable: HashSet<&str> = md
            .topics()
            .iter()
            .filter(|t| {
                t.error().is_none()
                    && !t.partitions().is_empty()
                    && t.partitions().iter().all(|p| p.leader() >= 0)
            })
            .map(|t| t.name())
            .collect();
        let ready = names.iter().all(|n| writable.contains(n.as_str()));
        if ready {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("topics not writable within 120 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
