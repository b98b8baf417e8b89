//! `tasks` pages keep half their room free on PostgreSQL (`fillfactor =
//! 50`, from 70 in migration 13). A run writes two new versions of its task
//! row (the claim and the outcome), and with 30% free a page holds room for
//! only a third of its rows' claims: a claim of a page of tasks wrote the
//! rest to other pages, which is not a heap-only update (HOT) and adds an
//! entry to each of the table's seven indexes. Measured on the claim and
//! outcome statements in pages of 62 tasks (a scratch PostgreSQL 15,
//! docs/BENCHMARKS.md, session 20): 68% of updates heap-only at 70, 96% at
//! 50; the claim took 20-27 µs a task at 70 and 8-11 at 50. The room costs
//! less than it seems: after the run the heap was 4,576 kB at 50 against
//! 5,152 kB at 70 (2,968 kB packed), the versions that moved to other pages
//! having grown it at 70. The setting applies to pages filled from now on.
//! SQLite has no such setting.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        set_fillfactor(manager, 50).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        set_fillfactor(manager, 70).await
    }
}

async fn set_fillfactor(manager: &SchemaManager<'_>, percent: u8) -> Result<(), DbErr> {
    if manager.get_database_backend() != sea_orm::DatabaseBackend::Postgres {
        return Ok(());
    }
    manager
        .get_connection()
        .execute_unprepared(&format!("ALTER TABLE tasks SET (fillfactor = {percent})"))
        .await
        .map(|_| ())
}
