//! Tasks, clusters, tokens and the audit log.
//!
//! Every statement is `IF NOT EXISTS` so that two processes migrating the same
//! database at once (or a retry after a half-applied run on a database without
//! transactional DDL) converge instead of failing.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Tasks::Table)
                    .if_not_exists()
                    .col(string_len(Tasks::Id, 36).primary_key())
                    .col(string_len(Tasks::Kind, 64))
                    .col(string_len_null(Tasks::ClusterId, 64))
                    .col(string_len_null(Tasks::Subject, 255))
                    .col(string_len(Tasks::Status, 16))
                    .col(integer(Tasks::Attempts).default(0))
                    .col(integer(Tasks::MaxAttempts))
                    .col(text_null(Tasks::LastError))
                    .col(json(Tasks::Payload))
                    .col(json_null(Tasks::Result))
                    .col(string_len(Tasks::CreatedBy, 128))
                    .col(string_len_null(Tasks::RequestId, 64))
                    .col(string_len_null(Tasks::Worker, 128))
                    .col(timestamp_with_time_zone(Tasks::CreatedAt))
                    .col(timestamp_with_time_zone_null(Tasks::StartedAt))
                    .col(timestamp_with_time_zone_null(Tasks::FinishedAt))
                    .col(timestamp_with_time_zone(Tasks::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        // Listing is "newest first" with optional filters; these two indexes
        // serve the common filters (by cluster and subject, by status) and the
        // unfiltered page.
        for (name, cols) in [
            ("idx_tasks_created", vec![Tasks::CreatedAt]),
            (
                "idx_tasks_cluster_subject",
                vec![Tasks::ClusterId, Tasks::Subject, Tasks::Status],
            ),
            ("idx_tasks_status_kind", vec![Tasks::Status, Tasks::Kind]),
        ] {
            let mut index = Index::create();
            index.name(name).table(Tasks::Table).if_not_exists();
            for col in cols {
                index.col(col);
            }
            manager.create_index(index.to_owned()).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(Clusters::Table)
                    .if_not_exists()
                    .col(big_pk_auto(Clusters::Id))
                    .col(string_len_uniq(Clusters::Name, 128))
                    .col(string_len(Clusters::Kind, 16))
                    .col(json(Clusters::Settings))
                    .col(text_null(Clusters::Secret))
                    .col(timestamp_with_time_zone(Clusters::CreatedAt))
                    .col(timestamp_with_time_zone(Clusters::UpdatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ApiTokens::Table)
                    .if_not_exists()
                    .col(string_len(ApiTokens::Id, 36).primary_key())
                    .col(string_len(ApiTokens::Name, 128))
                    .col(string_len(ApiTokens::Role, 16))
                    .col(string_len_uniq(ApiTokens::TokenHash, 64))
                    .col(string_len(ApiTokens::CreatedBy, 128))
                    .col(timestamp_with_time_zone(ApiTokens::CreatedAt))
                    .col(timestamp_with_time_zone_null(ApiTokens::RevokedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AuditLog::Table)
                    .if_not_exists()
                    .col(big_pk_auto(AuditLog::Id))
                    .col(timestamp_with_time_zone(AuditLog::At))
                    .col(string_len(AuditLog::Actor, 128))
                    .col(string_len_null(AuditLog::Role, 16))
                    .col(string_len(AuditLog::Method, 8))
                    .col(string_len(AuditLog::Path, 1024))
                    .col(string_len(AuditLog::RequestId, 64))
                    .col(integer(AuditLog::Status))
                    .col(string_len(AuditLog::Outcome, 16))
                    .col(json_null(AuditLog::Detail))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_audit_at")
                    .table(AuditLog::Table)
                    .col(AuditLog::At)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Tasks::Table.into_iden(),
            Clusters::Table.into_iden(),
            ApiTokens::Table.into_iden(),
            AuditLog::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Tasks {
    Table,
    Id,
    Kind,
    ClusterId,
    Subject,
    Status,
    Attempts,
    MaxAttempts,
    LastError,
    Payload,
    Result,
    CreatedBy,
    RequestId,
    Worker,
    CreatedAt,
    StartedAt,
    FinishedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Clusters {
    Table,
    Id,
    Name,
    Kind,
    Settings,
    Secret,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ApiTokens {
    Table,
    Id,
    Name,
    Role,
    TokenHash,
    CreatedBy,
    CreatedAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    Id,
    At,
    Actor,
    Role,
    Method,
    Path,
    RequestId,
    Status,
    Outcome,
    Detail,
}
