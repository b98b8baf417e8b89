//! `ferry_locks`: named locks for SQLite, where a write to this table inside a
//! transaction holds the database's write lock until commit. PostgreSQL uses
//! advisory locks instead and never writes here.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(FerryLocks::Table)
                    .if_not_exists()
                    .col(string_len(FerryLocks::Name, 128).primary_key())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(FerryLocks::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum FerryLocks {
    Table,
    Name,
}
