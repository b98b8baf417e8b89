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

/// Records the outcomes of a batch's tasks: every success in one statement
/// (`tasks::succeed_many`), any other outcome as [`settle`] does. Returns the
/// tasks that will be retried, with their errors.
pub(super) async fn settle_batch(
    db: &impl ConnectionTrait,
    outcomes: Vec<(Model, Result<Value, JobError>)>,
    elapsed: f64,
) -> Result<Vec<(Model, String)>, DbErr> {
    let mut succeeded = Vec::new();
    let mut retrying = Vec::new();
    for (task, outcome) in outcomes {
        match outcome {
            Ok(result) => {
                record(task.kind, "succeeded", elapsed);
                succeeded.push((task.id, result));
            }
            Err(err) => {
                if let Settled::Retrying(message) = settle(db, &task, Err(err), elapsed).await? {
                    retrying.push((task, message));
                }
            }
        }
    }
    tasks::succeed_many(db, succeeded).await?;
    Ok(retrying)
}

/// Records the outcome on the task row: a success, a retryable error below
/// the attempt limit, or a failure (permanent, or retryable on the last
/// attempt).
pub(super) async fn settle(
    db: &impl ConnectionTrait,
    task: &Model,
    outcome: Result<Value, JobError>,
    elapsed: f64,
) -> Result<Settled, DbErr> {
    let settled = match outcome {
        Ok(result) => {
            tasks::succeed(db, &task.id, result).await?;
            Settled::Succeeded
        }
        Err(err) if err.is_retryable() && task.attempts < task.max_attempts => {
            let message = err.to_string();
            tasks::retry_later(db, &task.id, &message).await?;
            Settled::Retrying(message)
        }
        Err(err) => {
            let reason = if err.is_retryable() {
                format!("gave up after {} attempts: {err}", task.attempts)
            } else {
                err.to_string()
            };
            tasks::fail(db, &task.id, err.failure(), &reason).await?;
            jobs::changefeed::failed(db, task, &reason).await?;
            Settled::Failed(reason)
        }
    };
    let label = match settled {
        Settled::Succeeded => "succeeded",
        Settled::Retrying(_) => "retrying",
        Settled::Failed(_) => "failed",
    };
    record(task.kind, label, elapsed);
    Ok(settled)
}
