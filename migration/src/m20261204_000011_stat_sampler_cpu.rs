//! `stat_samplers.last_cpu_ms`: the process CPU time the cluster's last
//! sample took, beside its wall time (`last_duration_ms`). A sample's
//! budget is CPU time; its wall time is mostly the broker's.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(StatSamplers::Table)
                    .add_column(big_integer_null(StatSamplers::LastCpuMs))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(StatSamplers::Table)
                    .drop_column(StatSamplers::LastCpuMs)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum StatSamplers {
    Table,
    LastCpuMs,
}
