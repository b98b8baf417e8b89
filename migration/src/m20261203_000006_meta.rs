//! `ferry_meta`: named values about the store itself, such as the canary
//! that tells at start whether `FERRY_SECRET_KEY` is the key the stored
//! secrets were sealed with.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(FerryMeta::Table)
                    .if_not_exists()
                    .col(string_len(FerryMeta::Name, 64).primary_key())
                    .col(text(FerryMeta::Value))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(FerryMeta::Table).if_exists().to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum FerryMeta {
    Table,
    Name,
    Value,
}
