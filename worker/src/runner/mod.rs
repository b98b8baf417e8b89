//! The worker side of the task life cycle: apalis hands out jobs, and for each
//! one the runner claims the task row, runs its kind's job under a per-attempt
//! timeout, and records the outcome.
//!
//! Retries use apalis's retry layer with exponential backoff: a retryable error
//! is returned to apalis, which calls the job again after the delay; a
//! permanent error, or the last allowed attempt, is returned as an
//! `AbortError` so apalis stops. On SIGTERM the monitor stops fetching and
//! waits up to the drain time; jobs still held after that stay locked by this
//! worker until its heartbeat expires, and then another worker re-runs them.
//! When the metadata store goes away apalis ends the worker; the runner then
//! waits for the store and builds a new one (`recovery`), so that an outage
//! of any length ends no process.

mod batch;
mod claims;
mod finished_jobs;
mod group_commit;
mod outcome;
mod outcome_writer;
mod poll;
mod recovery;

use std::{sync::Arc, time::Duration};

use apalis::{
    layers::retry::{
        BackoffRetryPolicy, HasherRng, RetryIfPolicy, RetryPolicy,
        backoff::{ExponentialBackoff, ExponentialBackoffMaker, MakeBackoff},
    },
    prelude::*,
};
use apalis_postgres::PostgresStorage;
use apalis_sqlite::SqliteStorage;
use ferry_entity::{TaskJob, TaskKind};
use futures::Future;
use tracing::Instrument;

use self::outcome::Settled;

use tokio_util::sync::CancellationToken;

use crate::{
    jobs::{self, JobContext, JobError, Resources, topic_create::TopicCreator},
    replication::supervisor::Supervisor,
    stats::Samplers,
};
use ferry_service::{
    kafka::KafkaClients,
    settings::{ChangefeedSettings, StatsSettings, WorkerSettings},
    store::{QueuePool, Store},
    tasks::{self, Claim, policy, submit as queue},
};

/// Shared by every job this worker process runs.
#[derive(Debug)]
pub struct WorkerState {
    pub store: Store,
    pub name: String,
    pub resources: Resources,
    outcomes: outcome_writer::OutcomeWriter,
    claims: claims::ClaimWriter,
    finished_jobs: finished_jobs::FinishedJobs,
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
    let state = Arc::new(WorkerState {
        store: store.clone(),
        name: name.clone(),
        resources: Resources {
            topics: TopicCreator::new(&settings),
            kafka: KafkaClients::default(),
        },
        outcomes: outcome_writer::start(store.clone()),
        claims: claims::start(store.clone(), name.clone()),
        finished_jobs: finished_jobs::start(store.clone()),
    });
    tokio::spawn(sweep_stale_pending(
        store.clone(),
        Duration::from_secs(settings.stale_task_seconds.max(1)),
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

    let drain = Duration::from_secs(settings.drain_seconds);
    // One token carries the shutdown signal to every apalis monitor this
    // loop builds and to the changefeed supervisor.
    let stop = CancellationToken::new();
    let signalled = stop.clone();
    let stop_supervisor = supervisor_stop.clone();
    tokio::spawn(async move {
        if let Err(err) = shutdown.await {
            tracing::warn!(error = %err, "waiting for the shutdown signal failed; stopping");
        }
        signalled.cancel();
        stop_supervisor.cancel();
    });
    let mut run = 0u32;
    let result = loop {
        let apalis_name = recovery::apalis_name(&name, run);
        let signal = {
            let stop = stop.clone();
            async move {
                stop.cancelled().await;
                Ok(())
            }
        };
        let result = run_monitor(&store, &settings, &state, &apalis_name, drain, signal).await;
        if stop.is_cancelled() {
            break result;
        }
        // Without a shutdown signal the monitor ends only when its worker
        // failed, which is the store failing (apalis's heartbeat, fetch or
        // acknowledgement); apalis drops the error when a shutdown timeout
        // is set, so the signal is what tells the two ends apart.
        tracing::warn!(worker = %apalis_name, "task worker ended without a shutdown signal; rebuilding it once the metadata store answers");
        metrics::counter!("ferry_worker_restarts_total").increment(1);
        if !recovery::wait_for_store(&store, &name, &stop).await {
            break Ok(());
        }
        run += 1;
    };
    supervisor_stop.cancel();
    let _ = supervisor_done.await;
    let _ = samplers_done.await;
    result?;
    tracing::info!("worker stopped");
    Ok(())
}

/// Builds one apalis monitor with one worker named `apalis_name` and runs
/// it until `signal` resolves (then drains) or the worker fails.
async fn run_monitor<S>(
    store: &Store,
    settings: &WorkerSettings,
    state: &Arc<WorkerState>,
    apalis_name: &str,
    drain: Duration,
    signal: S,
) -> Result<(), MonitorError>
where
    S: Future<Output = std::io::Result<()>> + Send,
{
    // The two storages differ only in type and config; apalis's bounds on a
    // backend make a generic function far noisier than this macro.
    macro_rules! monitor_for {
        ($storage:ident, $config:expr, $pool:expr) => {{
            let pool = $pool.clone();
            let settings = settings.clone();
            let state = state.clone();
            let name = apalis_name.to_owned();
            Monitor::new().register(move |_run| {
                let config = $config
                    .heartbeat_interval(Duration::from_secs(settings.heartbeat_seconds))
                    .missed_heartbeats(settings.missed_heartbeats)
                    .batch_size(settings.concurrency);
                let backend = $storage::<TaskJob>::new(&pool)
                    .with_config(config)
                    .poll_with_strategy(poll::EveryInterval::new(Duration::from_millis(
                        settings.poll_ms,
                    )));
                WorkerBuilder::new(name.as_str())
                    .backend(backend)
                    .data(state.clone())
                    .concurrency(settings.concurrency)
                    .retry(retry_policy(&settings))
                    .build(handle_job)
            })
        }};
    }
    let monitor = match &store.queue {
        QueuePool::Sqlite(pool) => monitor_for!(SqliteStorage, queue::sqlite_config(), pool),
        QueuePool::Postgres(pool) => monitor_for!(PostgresStorage, queue::postgres_config(), pool),
    };
    monitor
        .shutdown_timeout(drain)
        .run_with_signal(signal)
        .await
}

type TaskRetryPolicy =
    RetryIfPolicy<BackoffRetryPolicy<ExponentialBackoff<HasherRng>>, fn(&BoxDynError) -> bool>;

fn is_retryable(err: &BoxDynError) -> bool {
    err.downcast_ref::<AbortError>().is_none()
}

fn retry_policy(settings: &WorkerSettings) -> TaskRetryPolicy {
    let backoff = ExponentialBackoffMaker::new(
        Duration::from_millis(settings.backoff_initial_ms),
        Duration::from_millis(settings.backoff_max_ms.max(settings.backoff_initial_ms)),
        0.2,
        HasherRng::default(),
    )
    .expect("backoff bounds are ordered and the jitter is within 0..=100")
    .make_backoff();
    // The task row, not apalis, holds the attempt limit: the handler turns the
    // last failure into an `AbortError`, and only other errors are retried.
    RetryPolicy::retries(10_000)
        .with_backoff(backoff)
        .retry_if(is_retryable as fn(&BoxDynError) -> bool)
}

/// The apalis handler: one call per attempt. A job that is done (its
/// tasks finished, or failed for good) leaves the queue; one that apalis
/// will call again keeps its row, locked by this worker.
async fn handle_job(job: TaskJob, state: Data<Arc<WorkerState>>) -> Result<(), BoxDynError> {
    let span = tracing::info_span!("task", task_id = %job.task_id, batch = job.batch.len());
    let result = if job.batch.is_empty() {
        run_attempt(&state, &job.task_id).instrument(span).await
    } else {
        batch::run_batch(&state, &job).instrument(span).await
    };
    let done = match &result {
        Ok(()) => true,
        Err(err) => !is_retryable(err),
    };
    if done {
        state.finished_jobs.send(job.task_id);
    }
    result
}

async fn run_attempt(state: &WorkerState, task_id: &str) -> Result<(), BoxDynError> {
    let task = match state.claims.call(task_id.to_owned()).await? {
        Claim::Claimed(task) => task,
        Claim::Finished => return Ok(()),
    };
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
            () = cancelled(&state.store, task_id) => {
                // The job's future is dropped at its next await point; the
                // task row already says cancelled, so nothing is recorded.
                tracing::info!(kind = %task.kind, "task cancelled while it ran; attempt stopped");
                let ctx = JobContext {
                    store: &state.store,
                    task: &task,
                    resources: &state.resources,
                };
                let _ = tokio::time::timeout(AFTER_CANCEL, jobs::after_cancel(ctx)).await;
                return Ok(());
            }
        }
    };
    let elapsed = started.elapsed().as_secs_f64();
    let attempt = task.attempts;
    match state.outcomes.call((*task, outcome, elapsed)).await? {
        Settled::Succeeded => {
            tracing::info!(elapsed_s = elapsed, "task succeeded");
            Ok(())
        }
        Settled::Retrying(message) => {
            tracing::warn!(error = %message, attempt, "attempt failed; will retry");
            Err(Box::new(JobError::Retryable(message)))
        }
        Settled::Failed(reason) => {
            tracing::warn!(error = %reason, "task failed");
            Err(AbortError::new(reason).into())
        }
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

/// Re-queues tasks that have stayed pending without ever starting for
/// `stale_after`, which happens only when their job was lost (a queue row
/// removed by hand, a store restored from a backup). Queueing is idempotent
/// by the job's key, and a task is queued under the key of the job it was
/// queued with, so live jobs, batched ones included, are unaffected.
///
/// Each task is looked at once, when it first is `stale_after` old: a cursor
/// (creation time, id) moves past what a sweep has read, so that a sweep
/// reads only the tasks created since the last one instead of the whole
/// history (no index names the status, for the drain's sake: migration 18).
/// The first sweep of a process reads from the oldest task, which is what
/// finds a job lost while no worker ran. A job removed by hand later than
/// its tasks' first look is found at the next worker start.
async fn sweep_stale_pending(store: Store, stale_after: Duration) {
    let mut tick = tokio::time::interval(stale_after);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let age = chrono::Duration::from_std(stale_after).unwrap_or(chrono::Duration::seconds(30));
    let mut cursor: Option<tasks::SweepCursor> = None;
    loop {
        tick.tick().await;
        let before = chrono::Utc::now() - age;
        let mut stale =
            match tasks::stale_pending(&store.db, cursor.as_ref(), before, STALE_PAGE).await {
                Ok(stale) => stale,
                Err(err) => {
                    tracing::warn!(error = %err, "listing stale tasks failed");
                    continue;
                }
            };
        let full_page = stale.len() as u64 >= STALE_PAGE;
        if full_page {
            whole_jobs_only(&mut stale);
        }
        if !stale.is_empty() {
            match queue::requeue(&store, &stale).await {
                Ok(0) => {}
                Ok(jobs) => {
                    // The numbers are in the message, which is what an
                    // operator reads (and the sweep's tests look for).
                    tracing::warn!(
                        "lost jobs queued again: {jobs} (for {} stale tasks)",
                        stale.len()
                    );
                }
                Err(err) => {
                    // The cursor stays, so that the next sweep tries them again.
                    tracing::warn!(error = %err.detail(), "re-enqueueing stale tasks failed");
                    continue;
                }
            }
        }
        // A full page ends where it was cut (a job it split is read again);
        // otherwise everything created before `before` has been read.
        cursor = Some(match stale.last() {
            Some(last) if full_page => tasks::SweepCursor::at(last),
            _ => tasks::SweepCursor::before(before),
        });
    }
}

/// Stale tasks read per sweep, oldest first.
const STALE_PAGE: u64 = 500;

/// A full page may end inside a job's tasks: the page is cut before the
/// first of them, which a later sweep reads again (the cursor stops at the
/// cut), so that a lost job is queued again with all its tasks, never with
/// part of them under a key that would then refuse the rest. A page that
/// is one job's tasks only is kept whole.
fn whole_jobs_only(stale: &mut Vec<tasks::Task>) {
    let Some(last) = stale.last().map(|t| queue::job_key(t).to_owned()) else {
        return;
    };
    if let Some(first) = stale.iter().position(|t| queue::job_key(t) == last)
        && first > 0
    {
        stale.truncate(first);
    }
}
