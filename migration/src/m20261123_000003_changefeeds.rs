//! Changefeeds.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Changefeeds::Table)
                    .if_not_exists()
                    .col(string_len(Changefeeds::Id, 36).primary_key())
                    .col(string_len(Changefeeds::Name, 128))
                    .col(string_len(Changefeeds::ClusterId, 64))
                    .col(string_len(Changefeeds::DownstreamType, 16))
                    .col(json(Changefeeds::Downstream))
                    .col(text_null(Changefeeds::DownstreamSecret))
                    .col(json(Changefeeds::Rules))
                    .col(json(Changefeeds::Options))
                    .col(big_integer(Changefeeds::StartTs))
                    .col(string_len(Changefeeds::State, 16))
                    .col(string_len(Changefeeds::Desired, 16))
                    .col(text_null(Changefeeds::ErrorMessage))
                    .col(timestamp_with_time_zone_null(Changefeeds::ErrorAt))
                    .col(timestamp_with_time_zone_null(Changefeeds::ErrorSince))
                    .col(json_null(Changefeeds::Checkpoint))
                    .col(big_integer(Changefeeds::CheckpointTs))
                    .col(big_integer(Changefeeds::FetchedTs))
                    .col(big_integer(Changefeeds::UpstreamTs))
                    .col(big_integer(Changefeeds::ServerId))
                    .col(string_len_null(Changefeeds::Owner, 128))
                    .col(timestamp_with_time_zone_null(Changefeeds::LeaseUntil))
                    .col(timestamp_with_time_zone(Changefeeds::CreatedAt))
                    .col(timestamp_with_time_zone(Changefeeds::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_changefeeds_cluster")
                    .table(Changefeeds::Table)
                    .col(Changefeeds::ClusterId)
                    .col(Changefeeds::CreatedAt)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(Changefeeds::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Changefeeds {
    Table,
    Id,
    Name,
    ClusterId,
    DownstreamType,
    Downstream,
    DownstreamSecret,
    Rules,
    Options,
    StartTs,
    State,
    Desired,
    ErrorMessage,
    ErrorAt,
    ErrorSince,
    Checkpoint,
    CheckpointTs,
    FetchedTs,
    UpstreamTs,
    ServerId,
    Owner,
    LeaseUntil,
    CreatedAt,
    UpdatedAt,
}
