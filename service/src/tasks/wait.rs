//! Waiting a bounded time for a task to finish: what lets a
//! synchronous-looking call (TiEM, Confluent, a changefeed's topic) answer
//! with the outcome of the task it started.

use std::time::Duration;

use ferry_entity::TaskStatus;

use super::{Task, get};
use crate::{error::ServiceError, store::Store};

/// Where a task was when the wait ended.
#[derive(Debug)]
pub enum Waited {
    /// Succeeded, failed or cancelled.
    Finished(Task),
    /// Still pending or running at the deadline.
    Running(Task),
}

/// Polls the task, backing off from 20 ms to 200 ms, until it finishes or
/// `wait` has passed.
pub async fn wait(store: &Store, task: Task, wait: Duration) -> Result<Waited, ServiceError> {
    let deadline = tokio::time::Instant::now() + wait;
    let mut pause = Duration::from_millis(20);
    let mut task = task;
    loop {
        if task.status.is_terminal() {
            return Ok(Waited::Finished(task));
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(Waited::Running(task));
        }
        tokio::time::sleep(pause.min(deadline - tokio::time::Instant::now())).await;
        pause = (pause * 2).min(Duration::from_millis(200));
        let id = task.id.clone();
        task = get(&store.db, &id).await?.ok_or_else(|| {
            ServiceError::not_found(format!("task {id} vanished while it was awaited"))
        })?;
    }
}

impl Waited {
    pub fn task(&self) -> &Task {
        match self {
            Waited::Finished(t) | Waited::Running(t) => t,
        }
    }

    /// Whether the task finished with success.
    pub fn succeeded(&self) -> bool {
        matches!(self, Waited::Finished(t) if t.status == TaskStatus::Succeeded)
    }
}
