//! `consumer_instances`: REST Proxy v2 consumer instances, so that any
//! `ferry-api` process can serve any instance (`ferry_service::consumers`).
//! A row names the instance (cluster, group, name), how it consumes
//! (format, settings, subscription or assignment) and which process holds
//! its Kafka consumer: `owner` with its `owner_url` while `lease_until_ms`
//! is ahead. Times are epoch milliseconds: compared, never shown as dates.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ConsumerInstances::Table)
                    .if_not_exists()
                    .col(big_pk_auto(ConsumerInstances::Id))
                    .col(big_integer(ConsumerInstances::ClusterId))
                    .col(string_len(ConsumerInstances::GroupName, 255))
                    .col(string_len(ConsumerInstances::Name, 255))
                    .col(string_len(ConsumerInstances::Format, 16))
                    .col(json(ConsumerInstances::Settings))
                    .col(json_null(ConsumerInstances::Subscription))
                    .col(string_len_null(ConsumerInstances::Owner, 64))
                    .col(string_len_null(ConsumerInstances::OwnerUrl, 255))
                    .col(big_integer_null(ConsumerInstances::LeaseUntilMs))
                    .col(big_integer(ConsumerInstances::LastUsedMs))
                    .col(big_integer(ConsumerInstances::CreatedMs))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_consumer_instances_name")
                    .table(ConsumerInstances::Table)
                    .col(ConsumerInstances::ClusterId)
                    .col(ConsumerInstances::GroupName)
                    .col(ConsumerInstances::Name)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ConsumerInstances::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum ConsumerInstances {
    Table,
    Id,
    ClusterId,
    GroupName,
    Name,
    Format,
    Settings,
    Subscription,
    Owner,
    OwnerUrl,
    LeaseUntilMs,
    LastUsedMs,
    CreatedMs,
}
