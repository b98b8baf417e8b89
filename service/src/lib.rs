//! What the API and the workers share: the metadata store (one SQL database
//! holding ferry's tables and the task queue), secrets, settings, task
//! submission and state transitions, the registries (clusters, topics,
//! changefeeds, tokens) and read access to Kafka clusters. No HTTP and no job code:
//! the API crate adds the dialects on top, the worker crate the jobs and the
//! replication engine. No function here changes a Kafka cluster.

pub mod access;
pub mod acls;
pub mod changefeeds;
pub mod changesets;
pub mod clusters;
pub mod consumers;
pub mod error;
pub mod group_commit;
pub mod kafka;
pub mod projects;
pub mod reassignments;
pub mod schema_registry;
pub mod secrets;
pub mod settings;
pub mod stats;
pub mod store;
pub mod tasks;
pub mod telemetry;
pub mod tokens;
pub mod topics;
pub mod wakeups;

use settings::Settings;
use store::Store;

/// Connects to the metadata store and brings its schema up to date.
pub async fn open_store(settings: &Settings) -> anyhow::Result<Store> {
    let store = Store::connect(settings).await?;
    store.migrate().await?;
    Ok(store)
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
