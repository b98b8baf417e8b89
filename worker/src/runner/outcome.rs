//! Recording how an attempt ended, shared by single-task and batch jobs.

use std::time::Duration;

use chrono::Utc;
use ferry_entity::task::Model;
use rand::Rng;
use sea_orm::{ConnectionTrait, DbErr};
use serde_json::Value;

use super::record;
use crate::jobs::{self, JobError};
use ferry_service::{
    settings::WorkerSettings,
    tasks::{self, queue},
    wakeups::Wakeups,
};

/// How long a task waits before its next attempt after a retryable
/// failure: `initial` after the first attempt, doubling with each further
/// one up to `max`, each delay drawn within 20% either side so that tasks
/// that failed together (a broker away) do not all come back together.
#[derive(Debug, Clone, Copy)]
pub(super) struct Backoff {
    initial: Duration,
    max: Duration,
}

impl Backoff {
    pub(super) fn of(settings: &WorkerSettings) -> Backoff {
        let initial = Duration::from_millis(settings.backoff_initial_ms);
        Backoff {
            initial,
            max: Duration::from_millis(settings.backoff_max_ms).max(initial),
        }
    }

    /// The delay after attempt number `attempt` (1 for the first) failed.
    pub(super) fn after(&self, attempt: i32) -> Duration {
        let doublings = attempt.clamp(1, 32) as u32 - 1;
        let delay = self
            .initial
            .checked_mul(1u32 << doublings.min(31))
            .unwrap_or(self.max)
            .min(self.max);
        delay.mul_f64(rand::rng().random_range(0.8..=1.2))
    }
}

/// What an attempt's outcome made of its task.
pub(super) enum Settled {
    Succeeded,
    /// Back to pending, queued again after a backoff.
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

/// What a group of outcomes made of its tasks, once committed.
pub(super) struct Settlement {
    /// What became of each task, in the group's order.
    each: Vec<Settled>,
    /// The tasks that reached a final status, in the group's order.
    finished: Vec<String>,
    /// Those of `finished` whose end the other processes must hear of: the
    /// failures, and the successes a caller waits on (`tasks::wait` marked
    /// them awaited). Any other success is announced in this process only.
    announced: Vec<String>,
}

impl Settlement {
    /// Wakes whoever waits on the finished tasks: here all of them, and in
    /// the other processes those announced (`wakeups`), and returns what
    /// became of each task. Call it once the settlement has committed.
    pub(super) fn wake(self, wakeups: &Wakeups) -> Vec<Settled> {
        wakeups.finished_here(&self.finished);
        wakeups.announce_finished(self.announced);
        self.each
    }
}

/// Records every outcome, each with its attempt's duration in seconds: the
/// successes in one statement (`tasks::succeed_many`), any other outcome
/// as [`settle_failure`] does.
pub(super) async fn settle_all(
    db: &impl ConnectionTrait,
    outcomes: Vec<(Model, Result<Value, JobError>, f64)>,
    backoff: Backoff,
) -> Result<Settlement, DbErr> {
    let mut each = Vec::with_capacity(outcomes.len());
    let mut finished = Vec::with_capacity(outcomes.len());
    let mut announced = Vec::new();
    let mut succeeded = Vec::new();
    for (task, outcome, elapsed) in outcomes {
        let settled = match outcome {
            Ok(result) => {
                record(task.kind, "succeeded", elapsed);
                succeeded.push((task.id.clone(), result));
                Settled::Succeeded
            }
            Err(err) => settle_failure(db, &task, err, elapsed, backoff).await?,
        };
        match settled {
            Settled::Retrying(_) => {}
            Settled::Succeeded => finished.push(task.id),
            Settled::Failed(_) => {
                finished.push(task.id.clone());
                announced.push(task.id);
            }
        }
        each.push(settled);
    }
    announced.extend(tasks::succeed_many(db, succeeded).await?);
    Ok(Settlement {
        each,
        finished,
        announced,
    })
}

/// Records a failed attempt on the task row: a retryable error below the
/// attempt limit, or a failure (permanent, or retryable on the last
/// attempt).
async fn settle_failure(
    db: &impl ConnectionTrait,
    task: &Model,
    err: JobError,
    elapsed: f64,
    backoff: Backoff,
) -> Result<Settled, DbErr> {
    let settled = if err.is_retryable() && task.attempts < task.max_attempts {
        let message = err.to_string();
        let delay = chrono::Duration::from_std(backoff.after(task.attempts))
            .unwrap_or(chrono::Duration::seconds(30));
        queue::retry_later(db, task, &message, Utc::now() + delay).await?;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The delay doubles with each attempt up to its limit, and stays
    /// within the jitter's 20% of that, however many attempts there were.
    #[test]
    fn backoff_doubles_up_to_its_limit_within_the_jitter() {
        let backoff = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(1000),
        };
        for (attempt, base) in [
            (1, 100),
            (2, 200),
            (3, 400),
            (4, 800),
            (5, 1000),
            (60, 1000),
        ] {
            for _ in 0..50 {
                let delay = backoff.after(attempt).as_millis();
                assert!(
                    (base * 8 / 10..=base * 12 / 10).contains(&delay),
                    "attempt {attempt}: {delay} ms, not within 20% of {base} ms"
                );
            }
        }
    }
}
