//! `ferry tasks list|get|wait|cancel`.

use std::time::Duration;

use clap::Subcommand;

use super::{CliError, TASK_HEADER, exit_of, task_row, wait_all};
use crate::{
    Exit,
    client::{Client, TaskFilter},
    output::Printer,
};

#[derive(Debug, Subcommand)]
pub enum TasksCommand {
    /// Tasks, newest first.
    List {
        /// pending, running, succeeded, failed or cancelled.
        #[arg(long)]
        status: Option<String>,
        /// A task kind, e.g. topic.create.
        #[arg(long)]
        kind: Option<String>,
        /// A cluster's id.
        #[arg(long)]
        cluster: Option<String>,
        /// What the task acts on, e.g. a topic's name.
        #[arg(long)]
        subject: Option<String>,
        /// Only the tasks one call created: the `X-Request-Id` it sent or
        /// was answered with.
        #[arg(long)]
        request_id: Option<String>,
        #[arg(long, default_value_t = 1)]
        page: u64,
        #[arg(long, default_value_t = 20)]
        page_size: u64,
    },
    /// One task: exit 0 if it succeeded, 1 if it failed or was cancelled, 3
    /// if it is not finished.
    Get { id: String },
    /// Waits for tasks to finish: exit 0 when all succeeded, 1 when one
    /// failed or was cancelled, 3 when the timeout came first.
    Wait {
        #[arg(required = true)]
        ids: Vec<String>,
        /// Seconds to wait in all.
        #[arg(long, default_value_t = 300)]
        timeout: u64,
    },
    /// Cancels a task that has not started (a global admin's token also
    /// stops a running one).
    Cancel { id: String },
}

pub async fn run(
    client: &Client,
    printer: &Printer,
    command: TasksCommand,
) -> Result<Exit, CliError> {
    match command {
        TasksCommand::List {
            status,
            kind,
            cluster,
            subject,
            request_id,
            page,
            page_size,
        } => {
            let filter = TaskFilter {
                status,
                kind,
                cluster,
                subject,
                request_id,
                page,
                page_size,
            };
            let page = client.tasks(&filter).await?;
            let rows = page.data.iter().map(task_row).collect();
            printer.show(&page, &TASK_HEADER, rows);
            if !printer.is_json() {
                println!("{} of {} tasks", page.data.len(), page.total);
            }
            Ok(Exit::Done)
        }
        TasksCommand::Get { id } => {
            let task = client.task(&id, Duration::ZERO).await?;
            printer.show(&task, &TASK_HEADER, vec![task_row(&task)]);
            Ok(exit_of(std::slice::from_ref(&task), !task.is_final()))
        }
        TasksCommand::Wait { ids, timeout } => {
            let (tasks, timed_out) =
                wait_all(client, printer, &ids, Duration::from_secs(timeout)).await?;
            let rows = tasks.iter().map(task_row).collect();
            printer.show(&tasks, &TASK_HEADER, rows);
            Ok(exit_of(&tasks, timed_out))
        }
        TasksCommand::Cancel { id } => {
            let task = client.cancel(&id).await?;
            printer.show(&task, &TASK_HEADER, vec![task_row(&task)]);
            Ok(Exit::Done)
        }
    }
}
