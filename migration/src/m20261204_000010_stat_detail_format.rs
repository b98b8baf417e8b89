//! `stat_samples.detail_format`: how a row's `detail` blob is laid out
//! (`ferry_entity::stat_sample::DetailFormat`). Rows written before this
//! migration keep 0, the flat layout, and stay readable; new rows store
//! each partition's followers as deltas from its leader.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(StatSamples::Table)
                    .add_column(small_integer(StatSamples::DetailFormat).default(0))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(StatSamples::Table)
                    .drop_column(StatSamples::DetailFormat)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum StatSamples {
    Table,
    DetailFormat,
}
