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

/// Waits until the task finishes or `wait` has passed. The task's
/// announcement (`wakeups`) ends the wait as soon as the task is committed
/// finished (on PostgreSQL the row is first marked awaited, which is what
/// makes the worker that finishes it announce a success); reading the task
/// again, backing off from 20 ms to 200 ms, is what still ends it when an
/// announcement is lost.
pub async fn wait(store: &Store, task: Task, wait: Duration) -> Result<Waited, ServiceError> {
    let deadline = tokio::time::Instant::now() + wait;
    let watch = store.wakeups.watch(&task.id);
    // Each wait listens from before the read that precedes it, so that an
    // announcement between a read and the next wait is kept.
    let mut announced = std::pin::pin!(watch.notify().notified());
    announced.as_mut().enable();
    let mut pause = Duration::from_millis(20);
    let mut task = task;
    if !task.status.is_terminal() && store.wakeups.cross_processes() {
        // The worker that finishes the task may be another process, which
        // announces a success only to a row marked awaited. Marking returns
        // the row as it is now, which is the first read.
        let id = task.id.clone();
        task = super::mark_awaited(&store.db, &id).await?.ok_or_else(|| {
            ServiceError::not_found(format!("task {id} vanished while it was awaited"))
        })?;
    }
    loop {
        if task.status.is_terminal() {
            return Ok(Waited::Finished(task));
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return Ok(Waited::Running(task));
        }
        let _ = tokio::time::timeout(pause.min(deadline - now), announced.as_mut()).await;
        announced.set(watch.notify().notified());
        announced.as_mut().enable();
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

    pub fn into_task(self) -> Task {
        match self {
            Waited::Finished(t) | Waited::Running(t) => t,
        }
    }

    /// Whether the task finished with success.
    pub fn succeeded(&self) -> bool {
        matches!(self, Waited::Finished(t) if t.status == TaskStatus::Succeeded)
    }
}
