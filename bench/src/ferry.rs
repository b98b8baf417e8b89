//! How the benchmarks run ferry's own binaries (`ferry-api`, `ferry-worker`):
//! as child processes configured only through the environment, the way they
//! are deployed, started by the black-box tests' harness (`ferry_tests`)
//! with ferry's own defaults instead of the tests' short intervals.
//!
//! Every child is killed when its handle is dropped, and by the kernel when
//! the benchmark dies first, so an error or Ctrl-C anywhere in a run leaves
//! no ferry process behind.

use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};
use ferry_tests::{
    AppOptions, Backend, DbOptions, FerryProcess, LaunchOptions, TestApp, binaries,
    kafka::TestKafka,
};
use serde_json::Value;

/// Worker settings the benchmark may override; `None` keeps ferry's default,
/// which is what the recorded figures use.
#[derive(Debug, Clone, Default)]
pub struct WorkerKnobs {
    pub concurrency: Option<usize>,
    pub poll_ms: Option<u64>,
    pub db_connections: Option<u32>,
}

/// How much ferry's processes log, and where their output is kept.
#[derive(Debug, Clone)]
pub struct LogOptions {
    /// `RUST_LOG` for the children; `warn` keeps logging out of the figures.
    pub filter: String,
    /// When set, every child's full output goes to `<dir>/<bin>-<n>.log`, for
    /// finding out where the time goes (e.g. with `sqlx::query=debug`).
    pub dir: Option<PathBuf>,
}

/// How the benchmark starts ferry: the binaries in `bin_dir` (`--bin-dir`;
/// default: beside this benchmark binary, i.e. of its cargo profile), with
/// ferry's defaults but for `knobs`, logging JSON at `logs.filter`. Fails if
/// either binary is missing.
pub fn launch_options(
    bin_dir: Option<&Path>,
    knobs: &WorkerKnobs,
    logs: &LogOptions,
) -> anyhow::Result<LaunchOptions> {
    let bin_dir = bin_dir.map_or_else(binaries::profile_dir, Path::to_owned);
    for bin in [binaries::API, binaries::WORKER] {
        binaries::find_in(&bin_dir, bin).map_err(|missing| {
            anyhow!(
                "{missing}; build ferry first with `cargo build --release --bins` (or pass --bin-dir)"
            )
        })?;
    }
    let mut env = vec![
        ("FERRY_LOG_FORMAT", "json".to_owned()),
        ("RUST_LOG", logs.filter.clone()),
    ];
    if let Some(concurrency) = knobs.concurrency {
        env.push(("FERRY_WORKER__CONCURRENCY", concurrency.to_string()));
    }
    if let Some(poll_ms) = knobs.poll_ms {
        env.push(("FERRY_WORKER__POLL_MS", poll_ms.to_string()));
    }
    if let Some(connections) = knobs.db_connections {
        env.push(("FERRY_DATABASE_MAX_CONNECTIONS", connections.to_string()));
    }
    Ok(LaunchOptions {
        bin_dir: Some(bin_dir),
        tuned_for_tests: false,
        env: env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
        log_dir: logs.dir.clone(),
    })
}

/// [`launch_options`] with ferry's defaults for every worker setting, for
/// the scenarios that have no knobs.
pub fn default_launch(
    bin_dir: Option<&Path>,
    filter: &str,
    log_dir: Option<&Path>,
) -> anyhow::Result<LaunchOptions> {
    let logs = LogOptions {
        filter: filter.to_owned(),
        dir: log_dir.map(Path::to_owned),
    };
    launch_options(bin_dir, &WorkerKnobs::default(), &logs)
}

/// `ferry-api` (with `with_worker`, `--with-worker`: ferry's embedded
/// default, one process serves the API and runs tasks) on a fresh SQLite
/// store in a temporary directory `ferry-bench-<tag>-…`, once it listens.
/// Dropping the app kills the process and removes the directory.
pub async fn scratch_app(
    tag: &str,
    launch: LaunchOptions,
    with_worker: bool,
) -> anyhow::Result<TestApp> {
    let mut options = AppOptions::new(Backend::Sqlite);
    options.with_worker = with_worker;
    options.launch = launch;
    options.store = DbOptions {
        dir_prefix: format!("ferry-bench-{tag}-"),
        ..DbOptions::default()
    };
    TestApp::try_spawn_with(options)
        .await
        .map_err(anyhow::Error::msg)
}

/// Starts one `ferry-worker` process on the app's store, under ferry's own
/// default name.
pub fn start_worker(app: &TestApp) -> anyhow::Result<FerryProcess> {
    app.launcher()
        .spawn_worker("ferry-worker", &[])
        .map_err(anyhow::Error::msg)
}

/// Registers `broker` with the ferry at `base` as the Kafka cluster `bench`;
/// answers its id.
pub async fn register_broker(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    broker: &TestKafka,
) -> anyhow::Result<String> {
    let cluster: Value = http
        .post(format!("{base}/api/v1/clusters"))
        .bearer_auth(token)
        .json(&broker.registration("bench"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(cluster["id"].as_str().context("cluster id")?.to_owned())
}
