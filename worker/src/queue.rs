//! Submitting tasks: a `tasks` row first, then one apalis job that carries the
//! task's id. The job's idempotency key is the task id, so pushing the same
//! task twice (the stale-task sweep, a retried submission) enqueues it once.

use apalis::prelude::{TaskBuilder, TaskSink};
use apalis_postgres::PostgresStorage;
use apalis_sqlite::SqliteStorage;
use ferry_entity::{TaskJob, task::Model};
use sea_orm::{ActiveModelTrait, DbErr, EntityTrait};

use crate::{
    jobs,
    store::{QueuePool, Store},
    tasks::{self, NewTask},
};

/// The apalis queue that every task kind shares.
pub const QUEUE_NAME: &str = "ferry-tasks";

#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("cannot record the task: {0}")]
    Record(#[from] DbErr),
    #[error("cannot enqueue the task: {0}")]
    Enqueue(String),
}

/// Records and enqueues a task. When the push fails the row is removed again,
/// so a task is either accepted and queued or refused as a whole.
pub async fn submit(store: &Store, new: NewTask) -> Result<Model, SubmitError> {
    let policy = jobs::policy(new.kind);
    let model = tasks::new_model(&new, policy.max_attempts)
        .insert(&store.db)
        .await?;
    if let Err(err) = push(store, &model).await {
        let _ = ferry_entity::task::Entity::delete_by_id(model.id.clone())
            .exec(&store.db)
            .await;
        return Err(err);
    }
    Ok(model)
}

/// Pushes the job for an already recorded task.
pub async fn push(store: &Store, task: &Model) -> Result<(), SubmitError> {
    push_many(store, std::slice::from_ref(task)).await
}

/// Pushes the jobs of several recorded tasks, one job each, in one round trip.
pub async fn push_many(store: &Store, tasks: &[Model]) -> Result<(), SubmitError> {
    push_jobs(store, tasks.iter().map(|t| job_for(t, &[])).collect()).await
}

/// Pushes one job per `batch_size` tasks, so that a kind that batches (topic
/// creation) runs a whole request's tasks with one claim, one broker call and
/// one transaction of outcomes.
pub async fn push_batches(
    store: &Store,
    tasks: &[Model],
    batch_size: usize,
) -> Result<(), SubmitError> {
    let jobs = tasks
        .chunks(batch_size.max(1))
        .map(|chunk| job_for(&chunk[0], &chunk[1..]))
        .collect();
    push_jobs(store, jobs).await
}

async fn push_jobs(
    store: &Store,
    jobs: Vec<apalis::prelude::Task<TaskJob>>,
) -> Result<(), SubmitError> {
    let mut stream = futures::stream::iter(jobs);
    match &store.queue {
        QueuePool::Sqlite(pool) => {
            let mut storage = SqliteStorage::<TaskJob>::new(pool).with_config(sqlite_config());
            storage
                .push_all(&mut stream)
                .await
                .map_err(|e| SubmitError::Enqueue(e.to_string()))
        }
        QueuePool::Postgres(pool) => {
            let mut storage = PostgresStorage::<TaskJob>::new(pool).with_config(postgres_config());
            storage
                .push_all(&mut stream)
                .await
                .map_err(|e| SubmitError::Enqueue(e.to_string()))
        }
    }
}

fn job_for(task: &Model, others: &[Model]) -> apalis::prelude::Task<TaskJob> {
    // apalis counts an attempt when a dead worker's job is re-enqueued, so its
    // own limit sits above ours; the runner enforces the task's limit.
    let max_attempts = (task.max_attempts.max(1) as usize) * 2 + 2;
    TaskBuilder::new(TaskJob {
        task_id: task.id.clone(),
        batch: others.iter().map(|t| t.id.clone()).collect(),
    })
    .max_attempts(max_attempts)
    .idempotency_key(&task.id)
    .build()
}

pub fn sqlite_config() -> apalis_sqlite::Config {
    apalis_sqlite::Config::default().queue(QUEUE_NAME)
}

pub fn postgres_config() -> apalis_postgres::Config {
    apalis_postgres::Config::default().queue(QUEUE_NAME)
}
