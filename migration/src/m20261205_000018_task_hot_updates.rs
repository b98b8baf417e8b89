//! No index of `tasks` names a column that a claim or an outcome writes
//! (`status`, `attempts`, `worker`, the timestamps but `created_at`, the
//! result and error columns). PostgreSQL then writes both updates of a
//! task's run as heap-only tuples (HOT: the new version beside the old on
//! its page, `fillfactor = 70` keeping the room, migration 13), leaving
//! every index alone, where each update used to add an entry to all six.
//! Measured on the listed drain (`ferry-bench tasks --lists`, 5,000 tasks,
//! the same PostgreSQL): 20,893 / 19,735 tasks/s with 1 / 2 worker
//! processes before, 26,463 / 27,074 after; a batch outcome of 100 tasks
//! took 2.8 ms instead of 6.4 (docs/BENCHMARKS.md, session 18).
//!
//! - `idx_tasks_status_kind` (status, kind) becomes (kind, subject): the
//!   "in progress" checks that name a kind and a subject but no cluster (a
//!   changefeed's operations, a changeset's drift check) find the
//!   subject's few tasks and filter them by status. The stale-task sweep
//!   reads new tasks by `idx_tasks_created` from a cursor (the worker's
//!   `sweep_stale_pending`), and a list filtered by status alone reads by
//!   creation time and filters rows, as it does for the other filters.
//! - `idx_tasks_cluster_subject` loses its last column: (cluster_id,
//!   subject) serves the checks and lists that name a cluster.
//!
//! SQLite has no HOT, but the two indexes cost it an entry per update too.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in ["idx_tasks_status_kind", "idx_tasks_cluster_subject"] {
            manager
                .drop_index(
                    Index::drop()
                        .name(name)
                        .table(Tasks::Table)
                        .if_exists()
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("idx_tasks_subject")
                    .table(Tasks::Table)
                    .col(Tasks::ClusterId)
                    .col(Tasks::Subject)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_tasks_kind_subject")
                    .table(Tasks::Table)
                    .col(Tasks::Kind)
                    .col(Tasks::Subject)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in ["idx_tasks_subject", "idx_tasks_kind_subject"] {
            manager
                .drop_index(Index::drop().name(name).table(Tasks::Table).to_owned())
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("idx_tasks_status_kind")
                    .table(Tasks::Table)
                    .col(Tasks::Status)
                    .col(Tasks::Kind)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_tasks_cluster_subject")
                    .table(Tasks::Table)
                    .col(Tasks::ClusterId)
                    .col(Tasks::Subject)
                    .col(Tasks::Status)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Tasks {
    Table,
    ClusterId,
    Subject,
    Status,
    Kind,
}
