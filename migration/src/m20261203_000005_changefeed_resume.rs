//! `changefeeds.resume_after`: the update task that paused a running
//! changefeed to change it, so that an update interrupted after the pause
//! still resumes the changefeed when its next attempt finishes.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Changefeeds::Table)
                    .add_column(string_len_null(Changefeeds::ResumeAfter, 36))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Changefeeds::Table)
                    .drop_column(Changefeeds::ResumeAfter)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Changefeeds {
    Table,
    ResumeAfter,
}
