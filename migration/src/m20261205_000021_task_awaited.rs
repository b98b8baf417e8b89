//! `tasks.awaited`: set once a caller in some process waits on the task
//! (`tasks::wait`: TiEM, Confluent, a changefeed's topic, a changeset's
//! step). A worker then tells the other processes that a task succeeded
//! only when its row says someone waits (the successes' statement returns
//! those ids), rather than sending every finished id through PostgreSQL's
//! `NOTIFY`: each such statement was a commit taken under the server's one
//! notification lock, and every listening process read every id. In a drain
//! of no-op tasks that was about a statement per outcome group, answered by
//! nobody (docs/BENCHMARKS.md, session 21).
//!
//! The flag and the outcome meet on the task's row lock: a wait that marks
//! the row after the success committed reads the row finished, and a
//! success written after the mark sees it. The column is no part of the
//! entity: only that protocol writes and reads it, in raw SQL, and the
//! row's other writes leave it alone. No index names it, so marking a row
//! is a heap-only update (I23).

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
                    .add_column(
                        ColumnDef::new(Tasks::Awaited)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Tasks::Table)
                    .drop_column(Tasks::Awaited)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Tasks {
    Table,
    Awaited,
}
