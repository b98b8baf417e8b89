//! `tasks.job_key`: the idempotency key of the queue job that runs the task,
//! which is the id of the first task of its job. Tasks that run together (a
//! bulk list's hundred, an addTopicTask request's topics) share one job
//! keyed by their first task, so the stale-task sweep needs this to re-queue
//! a lost job as it was queued, and to leave a live one alone, instead of
//! queueing a second job for every task but the first. Rows from before have
//! none; the sweep keys them by their own id, as before.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Tasks::Table)
                    .add_column(ColumnDef::new(Tasks::JobKey).string().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Tasks::Table)
                    .drop_column(Tasks::JobKey)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Tasks {
    Table,
    JobKey,
}
