//! `changesets`: desired-state documents for a Kafka cluster, their plans
//! and the tasks that applied them (`ferry_service::changesets`). The
//! document, plan, steps and drift are JSON columns read back into types.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Changesets::Table)
                    .if_not_exists()
                    .col(string_len(Changesets::Id, 36).primary_key())
                    .col(string_len(Changesets::Name, 255))
                    .col(big_integer(Changesets::ClusterId))
                    .col(string_len_null(Changesets::ProjectId, 64))
                    .col(string_len(Changesets::Status, 32))
                    .col(json(Changesets::Document))
                    .col(json(Changesets::Plan))
                    .col(json(Changesets::Steps))
                    .col(boolean(Changesets::AllowDelete))
                    .col(boolean(Changesets::RequireApproval))
                    .col(boolean(Changesets::Watch))
                    .col(boolean(Changesets::Revert))
                    .col(string_len(Changesets::PlannedBy, 255))
                    .col(string_len(Changesets::PlannedByToken, 64))
                    .col(string_len_null(Changesets::AppliedBy, 255))
                    .col(string_len_null(Changesets::AppliedByToken, 64))
                    .col(string_len_null(Changesets::ApprovedBy, 255))
                    .col(string_len_null(Changesets::ApplyTaskId, 64))
                    .col(json_null(Changesets::Drift))
                    .col(timestamp_with_time_zone_null(Changesets::DriftDueAt))
                    .col(timestamp_with_time_zone(Changesets::CreatedAt))
                    .col(timestamp_with_time_zone(Changesets::UpdatedAt))
                    .col(timestamp_with_time_zone_null(Changesets::AppliedAt))
                    .to_owned(),
            )
            .await?;
        // The previous applied changeset of a name (for its deletes), and the
        // list's filters.
        manager
            .create_index(
                Index::create()
                    .name("idx_changesets_name")
                    .table(Changesets::Table)
                    .col(Changesets::ClusterId)
                    .col(Changesets::Name)
                    .col(Changesets::Status)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_changesets_drift_due")
                    .table(Changesets::Table)
                    .col(Changesets::DriftDueAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Changesets::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Changesets {
    Table,
    Id,
    Name,
    ClusterId,
    ProjectId,
    Status,
    Document,
    Plan,
    Steps,
    AllowDelete,
    RequireApproval,
    Watch,
    Revert,
    PlannedBy,
    PlannedByToken,
    AppliedBy,
    AppliedByToken,
    ApprovedBy,
    ApplyTaskId,
    Drift,
    DriftDueAt,
    CreatedAt,
    UpdatedAt,
    AppliedAt,
}
