//! One module per group of commands; what they share: the error every
//! command answers and the wait for tasks to finish.

pub mod apply;
pub mod changefeeds;
pub mod changesets;
pub mod tasks;
pub mod topics;

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use futures::{StreamExt, stream};

use crate::{
    Exit,
    client::{Client, ClientError, Task, TaskFilter},
    output::Printer,
};

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Client(#[from] ClientError),
    /// What the command line asks cannot be done as asked: a file that
    /// cannot be read, a confirmation nobody can give.
    #[error("{0}")]
    Usage(String),
}

impl CliError {
    pub fn exit(&self) -> Exit {
        match self {
            CliError::Client(err) if err.is_unavailable() => Exit::Unavailable,
            CliError::Client(_) => Exit::Failed,
            CliError::Usage(_) => Exit::Usage,
        }
    }
}

/// How long a server-side wait for one task lasts before the next call:
/// the server's long poll answers as soon as the task finishes.
const LONG_POLL: Duration = Duration::from_secs(20);

/// Tasks waited for at once: each wait is a long poll that holds one
/// connection, and a thousand tasks of one request mostly finish together.
const WAITS_AT_ONCE: usize = 16;

/// Waits until every task of `ids` is finished or `timeout` passes, showing
/// progress; answers the tasks as last seen, in order, and whether the wait
/// ran out first.
pub async fn wait_all(
    client: &Client,
    printer: &Printer,
    ids: &[String],
    timeout: Duration,
) -> Result<(Vec<Task>, bool), CliError> {
    let deadline = Instant::now() + timeout;
    let mut progress = printer.progress(ids.len() as u64, "tasks");
    let mut waits = stream::iter(ids.iter().enumerate())
        .map(|(i, id)| async move { wait_one(client, id, deadline).await.map(|t| (i, t)) })
        .buffer_unordered(WAITS_AT_ONCE);
    let mut tasks: Vec<Option<Task>> = vec![None; ids.len()];
    let mut done = 0;
    while let Some(answer) = waits.next().await {
        let (i, task) = answer?;
        if task.is_final() {
            done += 1;
            let note = if task.status == "succeeded" {
                String::new()
            } else {
                format!(
                    "{} {}",
                    task.subject.as_deref().unwrap_or(&task.id),
                    task.status
                )
            };
            progress.set(done, &note);
        }
        tasks[i] = Some(task);
    }
    progress.finish();
    let tasks: Vec<Task> = tasks.into_iter().flatten().collect();
    let timed_out = tasks.iter().any(|t| !t.is_final());
    Ok((tasks, timed_out))
}

/// Waits for the tasks one call created (`ferry topics ensure`), named by
/// the `X-Request-Id` the command sent with it. Each look asks the task list
/// for that request's pending and for its running tasks, a page of one each
/// (two calls at once): their totals say how many are left, and the newest
/// of them, likely the last to finish, is then long-polled
/// (`GET /api/v1/tasks/{id}?waitMs=`), which the server answers as soon as
/// that task finishes; then the next look. A request's tasks finish in a few
/// rounds (topics are created in batches), so this is a few calls however
/// many tasks there are, and the wait ends within milliseconds of the last
/// one, where polling on a timer ended up to a period late and one long
/// poll per task took about `tasks / WAITS_AT_ONCE` round trips and spent a
/// client token's rate limit. Once none is left, one more count tells
/// whether all succeeded; only when some did not are the request's tasks
/// read, to name them. Answers the tasks that did not succeed (failed,
/// cancelled, or unfinished when `timeout` ran out), by id, and whether the
/// wait ran out first.
pub async fn wait_request(
    client: &Client,
    printer: &Printer,
    request_id: &str,
    count: u64,
    timeout: Duration,
) -> Result<(HashMap<String, Task>, bool), CliError> {
    /// The list's largest page.
    const PAGE: u64 = 500;
    /// The longest server-side wait of one look, so that progress moves.
    const LOOK: Duration = Duration::from_secs(1);
    let deadline = Instant::now() + timeout;
    let filter = |status: Option<&str>, page: u64, page_size: u64| TaskFilter {
        status: status.map(str::to_owned),
        request_id: Some(request_id.to_owned()),
        page,
        page_size,
        ..TaskFilter::default()
    };
    let first_of = |status: &'static str| {
        let filter = filter(Some(status), 1, 1);
        async move { client.tasks(&filter).await }
    };
    let mut progress = printer.progress(count, "tasks");
    let timed_out = loop {
        let (pending, running) = futures::try_join!(first_of("pending"), first_of("running"))?;
        let left = pending.total + running.total;
        progress.set(count.saturating_sub(left.min(count)), "");
        if left == 0 {
            break false;
        }
        let wait = deadline.saturating_duration_since(Instant::now());
        if wait.is_zero() {
            break true;
        }
        // A count and its page are read one after the other: a task that
        // finished in between leaves a count without a row, and the next
        // look sees it.
        if let Some(newest) = pending.data.into_iter().chain(running.data).next() {
            client.task(&newest.id, wait.min(LOOK)).await?;
        }
    };
    let mut unsuccessful = HashMap::new();
    if first_of("succeeded").await?.total < count {
        let mut page = 1;
        loop {
            let listed = client.tasks(&filter(None, page, PAGE)).await?;
            for task in listed.data {
                if task.status != "succeeded" {
                    unsuccessful.insert(task.id.clone(), task);
                }
            }
            if page * PAGE >= listed.total {
                break;
            }
            page += 1;
        }
    }
    let unfinished = unsuccessful.values().filter(|t| !t.is_final()).count() as u64;
    let done = count.saturating_sub(unfinished);
    for task in unsuccessful.values().filter(|t| t.is_final()) {
        let name = task.subject.as_deref().unwrap_or(&task.id);
        progress.set(done, &format!("{name} {}", task.status));
    }
    progress.set(done, "");
    progress.finish();
    Ok((unsuccessful, timed_out))
}

/// One task, long-polled until it is finished or `deadline` passes.
async fn wait_one(client: &Client, id: &str, deadline: Instant) -> Result<Task, CliError> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let task = client.task(id, left.min(LONG_POLL)).await?;
        if task.is_final() || left.is_zero() {
            return Ok(task);
        }
    }
}

/// The exit code of tasks waited for: done only when each succeeded.
pub fn exit_of(tasks: &[Task], timed_out: bool) -> Exit {
    if tasks
        .iter()
        .any(|t| t.is_final() && t.status != "succeeded")
    {
        Exit::Failed
    } else if timed_out {
        Exit::TimedOut
    } else {
        Exit::Done
    }
}

/// A table row of a task.
pub fn task_row(task: &Task) -> Vec<String> {
    vec![
        task.id.clone(),
        task.kind.clone(),
        task.subject.clone().unwrap_or_default(),
        task.status.clone(),
        task.attempts.to_string(),
        task.last_error.clone().unwrap_or_default(),
    ]
}

pub const TASK_HEADER: [&str; 6] = ["id", "kind", "subject", "status", "attempts", "last error"];
