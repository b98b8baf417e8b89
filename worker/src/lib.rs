//! ferry's engine: the metadata store, the durable task queue and the job
//! handlers. The API uses this library to submit tasks and read state; only
//! the worker runtime here ever mutates a cluster.

pub mod changefeed;
pub mod changefeeds;
pub mod clusters;
pub mod jobs;
pub mod kafka;
pub mod queue;
pub mod runner;
pub mod secrets;
pub mod settings;
mod sqlite_busy;
pub mod store;
pub mod tasks;
pub mod telemetry;
pub mod topic_admin;
pub mod topics;

use settings::Settings;
use store::Store;

/// Connects to the metadata store and brings its schema up to date.
pub async fn open_store(settings: &Settings) -> anyhow::Result<Store> {
    let store = Store::connect(settings).await?;
    store.migrate().await?;
    Ok(store)
}

/// `ferry-worker`: runs workers until SIGTERM or Ctrl-C, then drains.
pub async fn run(settings: Settings) -> anyhow::Result<()> {
    telemetry::init(settings.log_format);
    let store = open_store(&settings).await?;
    runner::run_workers(
        store,
        settings.worker.clone(),
        settings.changefeed.clone(),
        shutdown_signal(),
    )
    .await
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = term.recv() => {},
            res = tokio::signal::ctrl_c() => res?,
        }
        Ok(())
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await
    }
}
