//! `tasks` pages keep 30% free on PostgreSQL (`fillfactor = 70`). A task row
//! is written three times in its life (queued, claimed, finished); with full
//! pages every new version moves to another page, which doubles the pages a
//! drain dirties and the full-page images WAL writes after a checkpoint. With
//! room on the page the new version stays beside the old one. Measured on
//! the claim-then-finish pattern in batches of 64: 4.8 s against 2.5 s for
//! 20,000 tasks (docs/BENCHMARKS.md, session 15). The setting applies to
//! pages filled from now on. SQLite has no such setting.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != sea_orm::DatabaseBackend::Postgres {
            return Ok(());
        }
        manager
            .get_connection()
            .execute_unprepared("ALTER TABLE tasks SET (fillfactor = 70)")
            .await
            .map(|_| ())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != sea_orm::DatabaseBackend::Postgres {
            return Ok(());
        }
        manager
            .get_connection()
            .execute_unprepared("ALTER TABLE tasks RESET (fillfactor)")
            .await
            .map(|_| ())
    }
}
