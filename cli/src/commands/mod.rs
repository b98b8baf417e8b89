//! One module per group of commands; what they share: the error every
//! command answers and the wait for tasks to finish.

pub mod apply;
pub mod changefeeds;
pub mod changesets;
pub mod tasks;
pub mod topics;

use std::time::{Duration, Instant};

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

/// Waits for the tasks of one request, all of one kind on one cluster
/// (`ferry topics ensure`), by asking the cluster's task list how many of
/// that kind are still pending or running (two one-row reads a look, every
/// 10 ms while the count moves, backing off to 100 ms while it does not),
/// then reading their outcomes once: a few calls however many tasks there
/// are, where one long poll per task took about `tasks / WAITS_AT_ONCE`
/// round trips once they had finished, and spent a client token's rate
/// limit. Other tasks of the kind on the cluster can only make it wait
/// longer. Answers as [`wait_all`].
pub async fn wait_listed(
    client: &Client,
    printer: &Printer,
    ids: &[String],
    cluster: &str,
    kind: &str,
    timeout: Duration,
) -> Result<(Vec<Task>, bool), CliError> {
    /// The list's largest page.
    const PAGE: u64 = 500;
    let Some(first) = ids.first() else {
        return Ok((Vec::new(), false));
    };
    let deadline = Instant::now() + timeout;
    // The request's tasks were created together: none before its first.
    let since = client.task(first, Duration::ZERO).await?.created_at;
    let filter = |status: Option<&str>, page: u64, page_size: u64| TaskFilter {
        status: status.map(str::to_owned),
        kind: Some(kind.to_owned()),
        cluster: Some(cluster.to_owned()),
        created_since: since.clone(),
        page,
        page_size,
        ..TaskFilter::default()
    };
    let mut progress = printer.progress(ids.len() as u64, "tasks");
    let mut pause = Duration::from_millis(10);
    let mut last = u64::MAX;
    loop {
        let pending = client.tasks(&filter(Some("pending"), 1, 1)).await?.total;
        let running = client.tasks(&filter(Some("running"), 1, 1)).await?.total;
        let left = pending + running;
        let total = ids.len() as u64;
        progress.set(total.saturating_sub(left.min(total)), "");
        if left == 0 || Instant::now() >= deadline {
            break;
        }
        if left == last {
            pause = (pause * 2).min(Duration::from_millis(100));
        } else {
            pause = Duration::from_millis(10);
        }
        last = left;
        tokio::time::sleep(pause.min(deadline.saturating_duration_since(Instant::now()))).await;
    }
    let wanted: std::collections::HashSet<&str> = ids.iter().map(String::as_str).collect();
    let mut seen: std::collections::HashMap<String, Task> = std::collections::HashMap::new();
    let mut page = 1;
    loop {
        let listed = client.tasks(&filter(None, page, PAGE)).await?;
        for task in listed.data {
            if wanted.contains(task.id.as_str()) {
                seen.insert(task.id.clone(), task);
            }
        }
        if page * PAGE >= listed.total {
            break;
        }
        page += 1;
    }
    let mut tasks = Vec::with_capacity(ids.len());
    for id in ids {
        match seen.remove(id) {
            Some(task) => tasks.push(task),
            // Not listed (a page shifted under the read): read it alone.
            None => tasks.push(client.task(id, Duration::ZERO).await?),
        }
    }
    let done = tasks.iter().filter(|t| t.is_final()).count() as u64;
    for task in tasks
        .iter()
        .filter(|t| t.is_final() && t.status != "succeeded")
    {
        let name = task.subject.as_deref().unwrap_or(&task.id);
        progress.set(done, &format!("{name} {}", task.status));
    }
    progress.set(done, "");
    progress.finish();
    let timed_out = tasks.iter().any(|t| !t.is_final());
    Ok((tasks, timed_out))
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
