//! `ferry-bench console`: the web console's pages on a store of 100,000
//! tasks and a cluster of 1,000 topics (issue #20), each figure beside its
//! budget and, for the server's part, beside the raw operation underneath:
//!
//! - the task list's call (`GET /api/v1/tasks`, the console's page of 25,
//!   unfiltered and filtered by a status all tasks have) beside the same
//!   page and count read straight from the store with SQL;
//! - the cluster page's calls, in the stages the page makes them (the
//!   registration; the v3 cluster, brokers and topics together; the replicas
//!   and consumer groups together), beside one Metadata request of every
//!   topic made directly with rdkafka;
//! - the render of both pages in Debian's chromium (`tests/browser/
//!   render.mjs`, playwright-core), from navigation to the page's table;
//! - the console's weight: every file it loads, gzipped as ferry serves it.
//!
//! ferry runs on its embedded default (SQLite) without a worker, so the
//! tasks stay pending and the store holds exactly what was submitted.

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use anyhow::{Context, bail};
use ferry_tests::{RawPool, kafka::TestKafka};
use rdkafka::{
    admin::AdminClient,
    client::DefaultClientContext,
    consumer::{BaseConsumer, Consumer},
};
use serde_json::{Value, json};

use crate::{
    admin::{create_topics, get, time},
    stats::{self, Latencies},
};

/// Issue #20's budgets.
const SERVER_BUDGET: Duration = Duration::from_millis(300);
const RENDER_BUDGET: Duration = Duration::from_millis(1000);
const WEIGHT_BUDGET: usize = 500 * 1024;
/// The console's page of tasks (`tasks.js`).
const PAGE_SIZE: usize = 25;
/// Tasks per submitted list: the most one call takes.
const LIST: usize = 1000;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Tasks in the store.
    #[arg(long, default_value_t = 100_000)]
    pub tasks: usize,
    /// Topics on the cluster (one partition each).
    #[arg(long, default_value_t = 1000)]
    pub topics: usize,
    /// Timed calls per measurement (after a tenth as many untimed).
    #[arg(long, default_value_t = 30)]
    pub calls: usize,
    /// Renders of each page in the browser.
    #[arg(long, default_value_t = 5)]
    pub renders: usize,
    #[arg(long)]
    pub bin_dir: Option<PathBuf>,
    #[arg(long, default_value = "warn")]
    pub ferry_log: String,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.tasks > 0 && args.topics > 0 && args.calls > 0,
        "--tasks, --topics and --calls must be positive"
    );
    let launch = crate::ferry::default_launch(args.bin_dir.as_deref(), &args.ferry_log, None)?;
    let broker = TestKafka::start().await;
    let app = crate::ferry::scratch_app("console", launch, false).await?;
    let http = reqwest::Client::builder().no_proxy().build()?;
    let (base, token) = (app.address.clone(), app.admin_token.clone());

    println!("ferry-bench console");
    let names: Vec<String> = (0..args.topics).map(|i| format!("bench-{i:05}")).collect();
    let admin = Arc::new(broker.client::<AdminClient<DefaultClientContext>>()?);
    create_topics(&admin, &names).await?;
    let cluster = crate::ferry::register_broker(&http, &base, &token, &broker).await?;
    for start in (0..args.tasks).step_by(LIST) {
        let count = LIST.min(args.tasks - start);
        http.post(format!("{base}/api/v1/tasks"))
            .bearer_auth(&token)
            .json(&vec![json!({ "kind": "ping" }); count])
            .send()
            .await?
            .error_for_status()?;
    }
    println!(
        "  store:    ferry's embedded SQLite, {} tasks; tansu with {} topics of 1 partition",
        args.tasks, args.topics
    );

    let warm = (args.calls / 10).max(1);
    let call = |path: String| {
        let (http, token) = (http.clone(), token.clone());
        let url = format!("{base}{path}");
        move || {
            let (http, token, url) = (http.clone(), token.clone(), url.clone());
            async move { get(&http, &token, &url).await.map(|_| ()) }
        }
    };
    let listed = get(&http, &token, &format!("{base}/api/v1/tasks?pageSize=1")).await?;
    if listed["total"].as_u64() != Some(args.tasks as u64) {
        bail!(
            "ferry lists {} tasks, expected {}",
            listed["total"],
            args.tasks
        );
    }
    let page = time(
        warm,
        args.calls,
        call(format!("/api/v1/tasks?page=1&pageSize={PAGE_SIZE}")),
    )
    .await?;
    let pending = time(
        warm,
        args.calls,
        call(format!(
            "/api/v1/tasks?page=1&pageSize={PAGE_SIZE}&status=pending"
        )),
    )
    .await?;
    let pool = app.db.open_pool(1).await?;
    let raw = time(warm, args.calls, || raw_page(&pool)).await?;
    pool.close().await;
    println!("  task list (page of {PAGE_SIZE} and the total):");
    println!(
        "    ferry, unfiltered:         {}",
        verdict(&page, SERVER_BUDGET)
    );
    println!(
        "    ferry, status=pending:     {}",
        verdict(&pending, SERVER_BUDGET)
    );
    println!("    raw SQL, the same reads:   {}", raw.summary());

    let v3 = format!("/v3/clusters/{cluster}");
    let brokers = get(&http, &token, &format!("{base}{v3}/brokers")).await?;
    let broker_id = brokers["data"][0]["broker_id"]
        .as_i64()
        .context("the cluster lists a broker")?;
    let stages: [Vec<String>; 3] = [
        vec![format!("/api/v1/clusters/{cluster}")],
        vec![v3.clone(), format!("{v3}/brokers"), format!("{v3}/topics")],
        vec![
            format!("{v3}/brokers/{broker_id}/partition-replicas"),
            format!("{v3}/consumer-groups"),
        ],
    ];
    println!("  cluster page (its calls, by the stage the page makes them in):");
    let mut critical = Duration::ZERO;
    for stage in stages {
        let mut slowest = Duration::ZERO;
        for path in stage {
            let latencies = time(warm, args.calls, call(path.clone())).await?;
            println!("    {path}: {}", latencies.summary());
            slowest = slowest.max(latencies.percentile(50.0));
        }
        critical += slowest;
    }
    let consumer: BaseConsumer = broker.client_config().create()?;
    let direct = time(warm, args.calls, || {
        let result = consumer
            .fetch_metadata(None, Duration::from_secs(10))
            .map(|_| ())
            .map_err(anyhow::Error::from);
        async move { result }
    })
    .await?;
    println!(
        "    the page's stages at p50: {} (budget {}) {}",
        stats::ms(critical),
        stats::ms(SERVER_BUDGET),
        met(critical <= SERVER_BUDGET)
    );
    println!(
        "    direct Metadata of every topic (rdkafka): {}",
        direct.summary()
    );

    let weight = weight(&http, &base).await?;
    println!(
        "  weight:   {} files, {} bytes gzipped as served (budget {} bytes) {}",
        weight.0,
        weight.1,
        WEIGHT_BUDGET,
        met(weight.1 <= WEIGHT_BUDGET)
    );

    match render(&base, &token, &cluster, args.renders).await {
        Ok(samples) => {
            for (name, ms) in samples {
                let renders = Latencies::new(ms.into_iter().map(Duration::from_millis).collect());
                println!("  render {name}: {}", verdict(&renders, RENDER_BUDGET));
            }
        }
        Err(err) => println!("  render:   not measured: {err:#}"),
    }
    Ok(())
}

/// The task list's reads straight from the store: the newest page and the
/// count, as `tasks::list` asks for them.
async fn raw_page(pool: &RawPool) -> anyhow::Result<()> {
    let page = format!("SELECT * FROM tasks ORDER BY created_at DESC, id DESC LIMIT {PAGE_SIZE}");
    let count = "SELECT COUNT(*) FROM tasks";
    match pool {
        RawPool::Sqlite(pool) => {
            sqlx::query(sqlx::AssertSqlSafe(page))
                .fetch_all(pool)
                .await?;
            sqlx::query(count).fetch_one(pool).await?;
        }
        RawPool::Pg(pool) => {
            sqlx::query(sqlx::AssertSqlSafe(page))
                .fetch_all(pool)
                .await?;
            sqlx::query(count).fetch_one(pool).await?;
        }
    }
    Ok(())
}

fn verdict(latencies: &Latencies, budget: Duration) -> String {
    format!(
        "{} (budget p50 {}) {}",
        latencies.summary(),
        stats::ms(budget),
        met(latencies.percentile(50.0) <= budget)
    )
}

fn met(ok: bool) -> &'static str {
    if ok { "MET" } else { "MISSED" }
}

/// Every file the console loads (the page, its style sheet and the modules
/// it imports, followed from `/`), and their bytes gzipped as served.
async fn weight(http: &reqwest::Client, base: &str) -> anyhow::Result<(usize, usize)> {
    let mut todo = vec!["/".to_owned()];
    let mut seen = BTreeSet::new();
    let mut bytes = 0;
    while let Some(path) = todo.pop() {
        if !seen.insert(path.clone()) {
            continue;
        }
        let url = format!("{base}{path}");
        let text = http
            .get(&url)
            .send()
            .await?
            .error_for_status()?
            .text()
            .await?;
        let gzipped = http
            .get(&url)
            .header(reqwest::header::ACCEPT_ENCODING, "gzip")
            .send()
            .await?
            .error_for_status()?
            .bytes()
            .await?;
        bytes += gzipped.len();
        todo.extend(references(&text));
    }
    Ok((seen.len(), bytes))
}

/// The console files a page or module names: `/console/x` in the page,
/// `./x.js` in a module.
fn references(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (marker, prefix) in [("\"/console/", "/console/"), ("'./", "/console/")] {
        for piece in text.split(marker).skip(1) {
            let name: String = piece
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
                .collect();
            if name.ends_with(".js") || name.ends_with(".css") {
                found.push(format!("{prefix}{name}"));
            }
        }
    }
    found
}

/// Runs `tests/browser/render.mjs` and answers its samples per page.
async fn render(
    base: &str,
    token: &str,
    cluster: &str,
    rounds: usize,
) -> anyhow::Result<Vec<(String, Vec<u64>)>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/browser");
    if !dir.join("node_modules/playwright-core").is_dir() {
        bail!(
            "{} has no node_modules (scripts/test installs them)",
            dir.display()
        );
    }
    let output = tokio::process::Command::new("node")
        .current_dir(&dir)
        .args(["render.mjs", base, token, cluster, &rounds.to_string()])
        .output()
        .await
        .context("running node")?;
    if !output.status.success() {
        bail!(
            "render.mjs failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let samples: serde_json::Map<String, Value> = serde_json::from_slice(&output.stdout)?;
    Ok(samples
        .into_iter()
        .map(|(name, ms)| {
            let ms = ms
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_u64).collect())
                .unwrap_or_default();
            (name, ms)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_follow_the_page_and_its_modules() {
        let page = r#"<link href="/console/console.css"><script src="/console/app.js"></script>"#;
        assert_eq!(
            references(page),
            ["/console/console.css", "/console/app.js"]
        );
        let module = "import { a } from './api.js';\nimport { b } from './ui.js';";
        assert_eq!(references(module), ["/console/api.js", "/console/ui.js"]);
    }
}
