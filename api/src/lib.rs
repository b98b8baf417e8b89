//! ferry's HTTP edge: every dialect's routes, authentication, the audit log,
//! Swagger UI and operational endpoints. Handlers validate, record and enqueue
//! tasks; they never change a cluster themselves.

pub mod api_tags;
pub mod app;
pub mod auth;
pub mod confluent;
pub mod dialect;
pub mod middleware;
pub mod native;
pub mod ops;
pub mod state;
pub mod tiem;
pub mod tubemq;

use std::{sync::Arc, time::Duration};

use ferry_worker::{runner, settings::Settings, telemetry};
use metrics_exporter_prometheus::PrometheusBuilder;
use poem::{
    Server,
    listener::{Acceptor, Listener, TcpListener},
};

use crate::state::AppState;

/// `ferry-api`: serves the API until SIGTERM or Ctrl-C; with `with_worker`,
/// also runs a worker in this process (the embedded default).
pub async fn run(settings: Settings, with_worker: bool) -> anyhow::Result<()> {
    telemetry::init(settings.log_format);
    let store = ferry_worker::open_store(&settings).await?;
    let metrics = PrometheusBuilder::new()
        .set_buckets(&[
            0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
        ])?
        .install_recorder()?;
    let state = AppState {
        store: store.clone(),
        settings: Arc::new(settings.clone()),
        metrics,
        tokens: Arc::default(),
    };
    auth::bootstrap_admin(&state).await?;

    // One signal stops both the server and the in-process worker.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let _ = ferry_worker::shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    let wait_stop = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stopped| *stopped).await;
    };

    let worker = with_worker.then(|| {
        let rx = stop_rx.clone();
        tokio::spawn(runner::run_workers(
            store,
            settings.worker.clone(),
            settings.changefeed.clone(),
            async move {
                wait_stop(rx).await;
                Ok(())
            },
        ))
    });

    let acceptor = TcpListener::bind(settings.listen.as_str())
        .into_acceptor()
        .await?;
    let addr = acceptor
        .local_addr()
        .first()
        .and_then(|a| a.as_socket_addr().copied())
        .ok_or_else(|| anyhow::anyhow!("cannot read the bound address"))?;
    // Printed on stdout for people and scripts (tests read the port from it).
    println!("ferry: listening on http://{addr} (Swagger UI at http://{addr}/docs)");
    tracing::info!(%addr, with_worker, "ferry api started");
    Server::new_with_acceptor(acceptor)
        .run_with_graceful_shutdown(
            app::build(state),
            wait_stop(stop_rx),
            Some(Duration::from_secs(settings.worker.drain_seconds)),
        )
        .await?;
    if let Some(worker) = worker {
        worker.await??;
    }
    Ok(())
}
