//! ferry's HTTP edge: every dialect's routes, authentication, the audit log,
//! Swagger UI and operational endpoints. Handlers validate, record and enqueue
//! tasks; they never change a cluster themselves.

pub mod api_tags;
pub mod app;
pub mod auth;
pub mod body_schemas;
pub mod confluent;
pub mod console;
pub mod dialect;
pub mod digitalocean;
pub mod easyqueue;
pub mod edge;
pub mod middleware;
pub mod native;
pub mod one_or_many;
pub mod ops;
pub mod pattern_string;
pub mod rate_limits;
pub mod route_labels;
pub mod state;
pub mod tiem;
pub mod tubemq;

use std::{future::Future, pin::Pin, sync::Arc, time::Duration};

use ferry_service::{
    consumers::Consumers, kafka::KafkaClients, settings::Settings, store::Store, telemetry,
};
use metrics_exporter_prometheus::PrometheusBuilder;
use poem::{
    Server,
    listener::{Acceptor, Listener, TcpListener},
};

use crate::{rate_limits::RateLimits, state::AppState};

/// What a worker run inside this process returns.
pub type WorkerRun = Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>>;
/// Resolves when the process should stop.
pub type StopSignal = Pin<Box<dyn Future<Output = std::io::Result<()>> + Send>>;
/// A worker to run inside this process (`--with-worker`): the binary passes
/// `ferry-worker`'s, which this crate does not depend on.
pub type Worker = Box<dyn FnOnce(Store, StopSignal) -> WorkerRun + Send>;

/// `ferry-api`: serves the API until SIGTERM or Ctrl-C; with a `worker`,
/// also runs it in this process (the embedded default).
pub async fn run(settings: Settings, worker: Option<Worker>) -> anyhow::Result<()> {
    telemetry::init(settings.log_format);
    let store = ferry_service::open_store(&settings).await?;
    let metrics = PrometheusBuilder::new()
        .set_buckets(&[
            0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
        ])?
        .install_recorder()?;
    let state = AppState {
        store: store.clone(),
        kafka: KafkaClients::rechecked_every(ferry_service::kafka::API_REGISTRY_RECHECK),
        settings: Arc::new(settings.clone()),
        metrics,
        tokens: Arc::default(),
        limits: Arc::new(RateLimits::new(settings.rate_limit.clone())),
        consumers: Arc::new(Consumers::new(&settings.confluent)),
        kafka_clusters: moka::sync::Cache::builder()
            .time_to_live(ferry_service::kafka::API_REGISTRY_RECHECK)
            .build(),
        http: reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .build()?,
        routes: Arc::new(app::route_labels()),
        bodies: Arc::new(body_schemas::BodySchemas::from_document(
            &app::openapi().spec(),
        )?),
    };
    auth::bootstrap_admin(&state).await?;

    // One signal stops both the server and the in-process worker.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let _ = ferry_service::shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    let wait_stop = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stopped| *stopped).await;
    };

    let with_worker = worker.is_some();
    let worker = worker.map(|worker| {
        let rx = stop_rx.clone();
        tokio::spawn(worker(
            store,
            Box::pin(async move {
                wait_stop(rx).await;
                Ok(())
            }),
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
    let consumers = state.consumers.clone();
    consumers.set_url(
        settings
            .api
            .advertised_url
            .clone()
            .unwrap_or_else(|| format!("http://{addr}")),
    );
    let upkeep = {
        let (consumers, store, rx) = (consumers.clone(), state.store.clone(), stop_rx.clone());
        tokio::spawn(async move { consumers.upkeep(&store, rx).await })
    };
    let store = state.store.clone();
    Server::new_with_acceptor(acceptor)
        .run_with_graceful_shutdown(
            app::build(state),
            wait_stop(stop_rx),
            Some(Duration::from_secs(settings.worker.drain_seconds)),
        )
        .await?;
    // Consumer instances outlive this process: another takes them over.
    let _ = upkeep.await;
    consumers.release_all(&store).await;
    if let Some(worker) = worker {
        worker.await??;
    }
    Ok(())
}
