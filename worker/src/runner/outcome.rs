//! Recording how an attempt ended, shared by single-task and batch jobs.

use ferry_entity::task::Model;
use sea_orm::{ConnectionTrait, DbErr};
use serde_json::Value;

use super::record;
use crate::jobs::{self, JobError};
use ferry_service::tasks;

/// What an attempt's outcome made of its task.
pub(super) enum Settled {
    Succeeded,
    /// Back to pending; apalis retries the job after a backoff.
    Retrying(String),
    /// Finished as failed, with this reason.
    Failed(String),
}

/// The error recorded when a task starts an attempt beyond its limit (its
/// job was re-run after its worker died on the last allowed attempt): the
/// task gives up, as after any last failed attempt.
pub(super) fn exhausted(task: &Model) -> JobError {
    JobError::Retryable(format!(
        "the worker of the last attempt was lost; last error: {}",
        task.last_error.as_deref().unwrap_or("none")
    ))
}

/// Records every outcome, each with its attempt's duration in seconds: the
/// successes in one statement (`tasks::succeed_many`), any other outcome
/// as [`settle_failure`] does. Returns what became of each task, in order.
pub(super) async fn settle_all(
    db: &impl ConnectionTrait,
    outcomes: Vec<(Model, Result<Value, JobError>, f64)>,
) -> Result<Vec<Settled>, DbErr> {
    let mut settled = Vec::with_capacity(outcomes.len());
    let mut succeeded = Vec::new();
    for (task, outcome, elapsed) in outcomes {
        settled.push(match outcome {
            Ok(result) => {
                record(task.kind, "succeeded", elapsed);
                succeeded.push((task.id, result));
                Settled::Succeeded
            }
            Err(err) => settle_failure(db, &task, err, elapsed).await?,
        });
    }
    tasks::succeed_many(db, succeeded).await?;
    Ok(settled)
}

/// Records a failed attempt on the task row: a retryable error below the
/// attempt limit, or a failure (permanent, or retryable on the last
/// attempt).
async fn settle_failure(
    db: &impl ConnectionTrait,
    task: &Model,
    err: JobError,
    elapsed: f64,
) -> Result<Settled, DbErr> {
    let settled = if err.is_retryable() && task.attempts < task.max_attempts {
        let message = err.to_string();
        tasks::retry_later(db, &task.id, &message).await?;
        Settled::Retrying(message)
    } else {
        let reason = if err.is_retryable() {
            format!("gave up after {} attempts: {err}", task.attempts)
        } else {
            err.to_string()
        };
        tasks::fail(db, &task.id, err.failure(), &reason).await?;
        jobs::changefeed::failed(db, task, &reason).await?;
        Settled::Failed(reason)
    };
    let label = match settled {
        Settled::Retrying(_) => "retrying",
        _ => "failed",
    };
    record(task.kind, label, elapsed);
    Ok(settled)
}
