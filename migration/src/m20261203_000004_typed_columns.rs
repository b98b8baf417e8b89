//! Typed columns: a task's and a changefeed's cluster becomes the cluster's
//! numeric id (it was its decimal text), and a task records why it failed.
//!
//! A column's type is changed by adding the new column, copying the values
//! over, dropping the old one and renaming the new one, which SQLite (3.35
//! and later) and PostgreSQL both do in place. Task cluster ids that are not
//! a number (`ping` tasks could name any text) become NULL. The migration
//! runs in one transaction (see `Store::migrate`), so it applies whole or not
//! at all.

use sea_orm_migration::{prelude::*, sea_orm::DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let numeric = |column: &str| match manager.get_database_backend() {
            DbBackend::Postgres => {
                format!("CASE WHEN {column} ~ '^[0-9]{{1,18}}$' THEN CAST({column} AS BIGINT) END")
            }
            _ => format!(
                "CASE WHEN {column} <> '' AND {column} NOT GLOB '*[^0-9]*' \
                 AND length({column}) <= 18 THEN CAST({column} AS INTEGER) END"
            ),
        };
        let postgres = manager.get_database_backend() == DbBackend::Postgres;

        db.execute_unprepared("DROP INDEX IF EXISTS idx_tasks_cluster_subject")
            .await?;
        db.execute_unprepared("ALTER TABLE tasks ADD COLUMN cluster_ref BIGINT")
            .await?;
        db.execute_unprepared(&format!(
            "UPDATE tasks SET cluster_ref = {}",
            numeric("cluster_id")
        ))
        .await?;
        db.execute_unprepared("ALTER TABLE tasks DROP COLUMN cluster_id")
            .await?;
        db.execute_unprepared("ALTER TABLE tasks RENAME COLUMN cluster_ref TO cluster_id")
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_tasks_cluster_subject")
                    .table(Alias::new("tasks"))
                    .col(Alias::new("cluster_id"))
                    .col(Alias::new("subject"))
                    .col(Alias::new("status"))
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;

        db.execute_unprepared("ALTER TABLE tasks ADD COLUMN failure VARCHAR(16)")
            .await?;
        // Earlier failures said why only in their text.
        db.execute_unprepared(
            "UPDATE tasks SET failure = CASE \
               WHEN status = 'cancelled' THEN 'cancelled' \
               WHEN last_error LIKE 'gave up after %attempt timed out%' THEN 'timed_out' \
               WHEN last_error LIKE 'gave up after%' THEN 'gave_up' \
               ELSE 'permanent' END \
             WHERE status IN ('failed', 'cancelled')",
        )
        .await?;

        db.execute_unprepared("DROP INDEX IF EXISTS idx_changefeeds_cluster")
            .await?;
        db.execute_unprepared(if postgres {
            "ALTER TABLE changefeeds ADD COLUMN cluster_ref BIGINT"
        } else {
            // SQLite adds a NOT NULL column only with a default.
            "ALTER TABLE changefeeds ADD COLUMN cluster_ref BIGINT NOT NULL DEFAULT 0"
        })
        .await?;
        db.execute_unprepared(&format!(
            "UPDATE changefeeds SET cluster_ref = COALESCE({}, 0)",
            numeric("cluster_id")
        ))
        .await?;
        if postgres {
            db.execute_unprepared("ALTER TABLE changefeeds ALTER COLUMN cluster_ref SET NOT NULL")
                .await?;
        }
        db.execute_unprepared("ALTER TABLE changefeeds DROP COLUMN cluster_id")
            .await?;
        db.execute_unprepared("ALTER TABLE changefeeds RENAME COLUMN cluster_ref TO cluster_id")
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_changefeeds_cluster")
                    .table(Alias::new("changefeeds"))
                    .col(Alias::new("cluster_id"))
                    .col(Alias::new("created_at"))
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Err(DbErr::Migration(
            "typed columns cannot be reverted: restore the metadata store from a backup".into(),
        ))
    }
}
