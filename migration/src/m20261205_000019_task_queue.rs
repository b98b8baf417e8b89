//! ferry's own task queue, in place of apalis's job tables.
//!
//! - `task_queue` holds one row per batch of tasks waiting for an attempt
//!   (a task's batch key is its `job_key`: its own id, or the first id of
//!   the request's batch for kinds that run together) and the time it may
//!   run from (now, or after a retry's backoff). A worker's claim deletes a
//!   page of due rows and starts the attempts of their pending tasks in one
//!   statement, reaching them by `idx_tasks_job_key`; a task that will be
//!   retried queues its key again with its outcome. The table holds waiting
//!   batches only, so the claim reads a small index whatever the history,
//!   and `tasks` keeps invariant I23 (no index names a column a run
//!   writes): its updates stay heap-only.
//! - `task_workers` holds each worker process's heartbeat. A worker whose
//!   heartbeat is older than its allowance is lost: any worker then puts
//!   its running tasks back into the queue and removes its row.
//!
//! Unfinished tasks from before batch keys get their own id as key; pending
//! tasks are queued here; running ones go back to pending and are queued
//! too, since the worker holding them ran apalis and will not finish
//! them under this queue: stop every worker before this migration runs
//! (docs/ARCHITECTURE.md, task life cycle). apalis's tables stay where they were,
//! unread.

use sea_orm::Statement;
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(TaskQueue::Table)
                    .if_not_exists()
                    .col(string(TaskQueue::JobKey).primary_key())
                    .col(timestamp_with_time_zone(TaskQueue::RunAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_task_queue_run_at")
                    .table(TaskQueue::Table)
                    .col(TaskQueue::RunAt)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_tasks_job_key")
                    .table(Tasks::Table)
                    .col(Tasks::JobKey)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(TaskWorkers::Table)
                    .if_not_exists()
                    .col(string(TaskWorkers::Name).primary_key())
                    .col(timestamp_with_time_zone(TaskWorkers::StartedAt))
                    .col(timestamp_with_time_zone(TaskWorkers::HeartbeatAt))
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        let backend = manager.get_database_backend();
        for sql in [
            "UPDATE tasks SET job_key = id \
             WHERE job_key IS NULL AND status IN ('pending', 'running')",
            "UPDATE tasks SET status = 'pending' WHERE status = 'running'",
            "INSERT INTO task_queue (job_key, run_at) \
             SELECT job_key, MIN(created_at) FROM tasks WHERE status = 'pending' \
             GROUP BY job_key",
        ] {
            db.execute_raw(Statement::from_string(backend, sql)).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(TaskWorkers::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(TaskQueue::Table).to_owned())
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("idx_tasks_job_key")
                    .table(Tasks::Table)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum TaskQueue {
    Table,
    JobKey,
    RunAt,
}

#[derive(DeriveIden)]
enum Tasks {
    Table,
    JobKey,
}

#[derive(DeriveIden)]
enum TaskWorkers {
    Table,
    Name,
    StartedAt,
    HeartbeatAt,
}
