//! The worker side of the task life cycle: ferry's queue (`tasks::queue`)
//! hands out claimed tasks through an apalis worker (`fetch`), and for each
//! job the runner runs its kind's job under a per-attempt timeout and
//! records the outcome (`outcome_writer`, by group commit).
//!
//! A retryable failure below the task's attempt limit sends the task back
//! into the queue, due after a backoff (`outcome::Backoff`); any worker may
//! run the next attempt, and none holds a slot while it waits. On SIGTERM
//! the monitor stops asking for jobs and waits up to the drain time; the
//! worker then puts the tasks it still holds back into the queue and
//! leaves (`queue::leave`). A killed worker's tasks go back when its
//! heartbeat lapses (`liveness`). When the metadata store goes away, the
//! claim loop waits for it (`recovery`) and an outcome waits to be written,
//! so that an outage of any length ends no process and loses no attempt.

mod batch;
mod fetch;
mod liveness;
mod outcome;
mod outcome_writer;
mod recovery;

use std::{future::Future, sync::Arc, time::Duration};

use apalis::prelude::*;
use ferry_entity::TaskKind;
use tracing::Instrument;

use self::outcome::{Backoff, Settled};

use tokio_util::sync::CancellationToken;

use crate::{
    jobs::{self, JobContext, JobError, Resources, topic_create::TopicCreator},
    replication::supervisor::Supervisor,
    stats::Samplers,
};
use ferry_service::{
    kafka::KafkaClients,
    settings::{ChangefeedSettings, StatsSettings, WorkerSettings},
    store::Store,
    tasks::{self, policy, queue},
};

/// Shared by every job this worker process runs.
#[derive(Debug)]
pub struct WorkerState {
    pub store: Store,
    pub name: String,
    pub resources: Resources,
    outcomes: outcome_writer::OutcomeWriter,
    backoff: Backoff,
    /// Fires on shutdown: what ends a wait for the store.
    stop: CancellationToken,
}

impl WorkerState {
    /// Runs `write` until the store takes it, waiting for the store between
    /// tries: an attempt's outcome is known and must not be lost to an
    /// outage. Gives up (`None`) only when the process is stopping; the
    /// task then stays running under this worker's name, and goes back
    /// into the queue when its heartbeat lapses.
    async fn until_stored<T, F, Fut>(&self, what: &str, mut write: F) -> Option<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, sea_orm::DbErr>>,
    {
        loop {
            match write().await {
                Ok(written) => return Some(written),
                Err(err) => {
                    tracing::warn!(error = %err, "writing {what} failed; waiting for the store");
                    if !recovery::wait_for_store(&self.store, &self.name, &self.stop).await {
                        return None;
                    }
                }
            }
        }
    }
}

/// A name unique to this process: several workers may share a host.
pub fn default_worker_name() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "ferry".to_owned());
    format!(
        "{host}-{}-{}",
        std::process::id(),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

/// Runs workers until `shutdown` resolves, then drains.
pub async fn run_workers<S>(
    store: Store,
    settings: WorkerSettings,
    changefeed_settings: ChangefeedSettings,
    stats_settings: StatsSettings,
    shutdown: S,
) -> anyhow::Result<()>
where
    S: Future<Output = std::io::Result<()>> + Send + 'static,
{
    let name = settings.name.clone().unwrap_or_else(default_worker_name);
    // One token carries the shutdown signal to the apalis monitor, the
    // claim loop, the outcome writes and the changefeed supervisor.
    let stop = CancellationToken::new();
    let backoff = Backoff::of(&settings);
    let state = Arc::new(WorkerState {
        store: store.clone(),
        name: name.clone(),
        resources: Resources {
            topics: TopicCreator::new(&settings),
            kafka: KafkaClients::default(),
        },
        outcomes: outcome_writer::start(store.clone(), backoff),
        backoff,
        stop: stop.clone(),
    });
    // Registered before the first claim, so that no task is ever running
    // under a worker that other workers cannot see alive.
    if let Err(err) = queue::heartbeat(&store.db, &name).await {
        tracing::warn!(worker = %name, error = %err, "registering the worker failed; the heartbeat tries again");
    }
    let heartbeat = tokio::spawn(liveness::beat(
        store.clone(),
        name.clone(),
        Duration::from_secs(settings.heartbeat_seconds.max(1)),
        settings.missed_heartbeats,
    ));
    tokio::spawn(crate::drift::watch(
        store.clone(),
        Duration::from_secs(settings.drift_interval_seconds),
    ));
    let supervisor = Supervisor::new(store.clone(), name.clone(), changefeed_settings);
    let supervisor_stop = CancellationToken::new();
    let supervisor_done = tokio::spawn(supervisor.run(supervisor_stop.clone()));
    let samplers = Samplers::new(
        store.clone(),
        name.clone(),
        stats_settings,
        state.resources.kafka.clone(),
    );
    let samplers_done = tokio::spawn(samplers.run(supervisor_stop.clone()));
    tracing::info!(worker = %name, concurrency = settings.concurrency, "worker started");

    let signalled = stop.clone();
    let stop_supervisor = supervisor_stop.clone();
    tokio::spawn(async move {
        if let Err(err) = shutdown.await {
            tracing::warn!(error = %err, "waiting for the shutdown signal failed; stopping");
        }
        signalled.cancel();
        stop_supervisor.cancel();
    });
    let signal = {
        let stop = stop.clone();
        async move {
            stop.cancelled().await;
            Ok(())
        }
    };
    let result = run_monitor(&store, &settings, &state, signal).await;
    heartbeat.abort();
    // Whatever the drain could not finish goes back to the queue now,
    // rather than when this worker's heartbeat lapses.
    match queue::leave(&store.db, &name).await {
        Ok(released) if !released.is_empty() => {
            tracing::warn!(worker = %name, "unfinished tasks queued again on leaving: {}", released.len());
            store.wakeups.jobs_queued();
        }
        Ok(_) => {}
        Err(err) => {
            tracing::warn!(worker = %name, error = %err, "leaving the queue failed; other workers take its tasks when its heartbeat lapses")
        }
    }
    supervisor_stop.cancel();
    let _ = supervisor_done.await;
    let _ = samplers_done.await;
    result?;
    tracing::info!("worker stopped");
    Ok(())
}

/// Runs one apalis monitor with one worker over ferry's queue until
/// `signal` resolves, then drains.
async fn run_monitor<S>(
    store: &Store,
    settings: &WorkerSettings,
    state: &Arc<WorkerState>,
    signal: S,
) -> Result<(), MonitorError>
where
    S: Future<Output = std::io::Result<()>> + Send,
{
    let in_flight = fetch::InFlight::new(settings.concurrency);
    let claims = fetch::ClaimLoop::new(
        store.clone(),
        state.name.clone(),
        in_flight.clone(),
        Duration::from_millis(settings.poll_ms),
        state.stop.clone(),
    );
    let concurrency = settings.concurrency;
    let name = state.name.clone();
    let state = state.clone();
    let ran = Monitor::new()
        .register(move |_run| {
            WorkerBuilder::new(name.as_str())
                .backend(fetch::backend(claims.clone()))
                .data(state.clone())
                // Twice the slots: a job whose attempt has ended gives its
                // slot back while its outcome is written (`fetch`).
                .concurrency(concurrency.max(1) * 2)
                .build(handle_job)
        })
        .shutdown_timeout(Duration::from_secs(settings.drain_seconds))
        .run_with_signal(signal)
        .await;
    // The worker leaves the queue after this returns, which must come after
    // the last claim that could start an attempt in its name.
    in_flight.claims_ended().await;
    ran
}

/// The apalis handler: one call per job. Every outcome, a retry included,
/// is recorded on the task rows before it returns, so apalis has nothing
/// to retry.
async fn handle_job(
    mut job: fetch::ClaimedJob,
    state: Data<Arc<WorkerState>>,
) -> Result<(), BoxDynError> {
    let lead = job.tasks.first().map(|t| t.id.clone()).unwrap_or_default();
    let span = tracing::info_span!("task", task_id = %lead, batch = job.tasks.len());
    if job.tasks.len() == 1 {
        run_attempt(&state, &mut job).instrument(span).await;
    } else {
        batch::run_batch(&state, &mut job).instrument(span).await;
    }
    Ok(())
}

async fn run_attempt(state: &WorkerState, job: &mut fetch::ClaimedJob) {
    // The job's slot and held ids stay with the job; its one task is moved
    // out rather than copied.
    let task = job.tasks.pop().expect("a job of one task");
    let policy = policy::of(task.kind);
    let started = std::time::Instant::now();
    let outcome = if task.attempts > task.max_attempts {
        Err(outcome::exhausted(&task))
    } else {
        tracing::info!(kind = %task.kind, attempt = task.attempts, request_id = task.request_id.as_deref().unwrap_or(""), "attempt started");
        let ctx = JobContext {
            store: &state.store,
            task: &task,
            resources: &state.resources,
        };
        let attempt = tokio::time::timeout(policy.attempt_timeout, jobs::execute(ctx));
        tokio::select! {
            outcome = attempt => outcome.unwrap_or(Err(JobError::TimedOut(policy.attempt_timeout))),
            () = cancelled(&state.store, &task.id) => {
                // The job's future is dropped at its next await point; the
                // task row already says cancelled, so nothing is recorded.
                tracing::info!(kind = %task.kind, "task cancelled while it ran; attempt stopped");
                let ctx = JobContext {
                    store: &state.store,
                    task: &task,
                    resources: &state.resources,
                };
                let _ = tokio::time::timeout(AFTER_CANCEL, jobs::after_cancel(ctx)).await;
                return;
            }
        }
    };
    let elapsed = started.elapsed().as_secs_f64();
    job.attempt_ended();
    let attempt = task.attempts;
    let settled = state
        .until_stored("an attempt's outcome", || {
            state
                .outcomes
                .call((task.clone(), outcome.clone(), elapsed))
        })
        .await;
    match settled {
        Some(Settled::Succeeded) => tracing::info!(elapsed_s = elapsed, "task succeeded"),
        Some(Settled::Retrying(message)) => {
            tracing::warn!(error = %message, attempt, "attempt failed; will retry")
        }
        Some(Settled::Failed(reason)) => tracing::warn!(error = %reason, "task failed"),
        None => {}
    }
}

/// How long undoing a cancelled attempt's work may take.
const AFTER_CANCEL: Duration = Duration::from_secs(60);

/// How often a running attempt looks whether its task was cancelled, when
/// no announcement said so (`wakeups`).
const CANCEL_CHECK: Duration = Duration::from_secs(1);

/// Resolves once the task has been cancelled (by a global admin while it
/// ran). The cancellation's announcement wakes it at once; the periodic
/// look is what still finds one whose announcement was lost. A store error
/// is not a cancellation: the attempt goes on.
async fn cancelled(store: &Store, task_id: &str) {
    let watch = store.wakeups.watch(task_id);
    loop {
        let _ = tokio::time::timeout(CANCEL_CHECK, watch.notify().notified()).await;
        if matches!(tasks::is_cancelled(&store.db, task_id).await, Ok(true)) {
            return;
        }
    }
}

fn record(kind: TaskKind, outcome: &'static str, seconds: f64) {
    metrics::histogram!("ferry_task_attempt_duration_seconds", "kind" => kind.as_str(), "outcome" => outcome)
        .record(seconds);
}
