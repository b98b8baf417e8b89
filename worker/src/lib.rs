//! ferry's runtime: the task runner (an apalis worker over ferry's queue), one job per task kind, the
//! Kafka calls that change clusters, the changefeed supervisor with its
//! replication engine, and the statistics samplers. The only crate whose code changes a cluster; the API
//! crate does not depend on it (`ferry-api --with-worker` is composed by the
//! binary in `server/`).

#[doc(hidden)]
mod drift;
pub mod fuzzing;
pub mod jobs;
pub mod kafka;
pub mod replication;
pub mod runner;
pub mod stats;

use std::future::Future;

use ferry_service::{settings::Settings, store::Store};

/// `ferry-worker`: runs workers until SIGTERM or Ctrl-C, then drains.
pub async fn run(settings: Settings) -> anyhow::Result<()> {
    ferry_service::telemetry::init(settings.log_format);
    let store = ferry_service::open_store(&settings).await?;
    run_with(store, settings, ferry_service::shutdown_signal()).await
}

/// Runs workers on an open store until `stop` resolves, then drains: the
/// worker inside `ferry-api --with-worker`.
pub async fn run_with<S>(store: Store, settings: Settings, stop: S) -> anyhow::Result<()>
where
    S: Future<Output = std::io::Result<()>> + Send + 'static,
{
    runner::run_workers(
        store,
        settings.worker,
        settings.changefeed,
        settings.stats,
        stop,
    )
    .await
}
