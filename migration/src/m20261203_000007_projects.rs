//! Projects: teams that own tokens and reach only the clusters and topic
//! prefixes granted to them. Rows made before projects belong to none and
//! stay visible to global tokens.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Projects::Table)
                    .if_not_exists()
                    .col(string_len(Projects::Id, 64).primary_key())
                    .col(string_len(Projects::Name, 128))
                    .col(string_len(Projects::Description, 1024))
                    .col(timestamp_with_time_zone(Projects::CreatedAt))
                    .col(timestamp_with_time_zone(Projects::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ProjectGrants::Table)
                    .if_not_exists()
                    .col(string_len(ProjectGrants::ProjectId, 64))
                    .col(big_integer(ProjectGrants::ClusterId))
                    .col(string_len_null(ProjectGrants::TopicPrefix, 249))
                    .col(boolean(ProjectGrants::Source))
                    .col(boolean(ProjectGrants::Target))
                    .col(timestamp_with_time_zone(ProjectGrants::CreatedAt))
                    .col(timestamp_with_time_zone(ProjectGrants::UpdatedAt))
                    .primary_key(
                        Index::create()
                            .col(ProjectGrants::ProjectId)
                            .col(ProjectGrants::ClusterId),
                    )
                    .to_owned(),
            )
            .await?;
        for (table, column) in [
            (Alias::new("api_tokens"), Alias::new("project_id")),
            (Alias::new("tasks"), Alias::new("project_id")),
            (Alias::new("changefeeds"), Alias::new("project_id")),
            (Alias::new("audit_log"), Alias::new("project_id")),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .add_column(string_len_null(column, 64))
                        .to_owned(),
                )
                .await?;
        }
        for column in ["rate_per_second", "rate_burst"] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new("api_tokens"))
                        .add_column(integer_null(Alias::new(column)))
                        .to_owned(),
                )
                .await?;
        }
        for (column, length) in [("token_id", 36), ("client_addr", 64)] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new("audit_log"))
                        .add_column(string_len_null(Alias::new(column), length))
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("idx_tasks_project")
                    .table(Alias::new("tasks"))
                    .col(Alias::new("project_id"))
                    .col(Alias::new("created_at"))
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Err(DbErr::Migration(
            "projects cannot be reverted: restore the metadata store from a backup".into(),
        ))
    }
}

#[derive(DeriveIden)]
enum Projects {
    Table,
    Id,
    Name,
    Description,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ProjectGrants {
    Table,
    ProjectId,
    ClusterId,
    TopicPrefix,
    Source,
    Target,
    CreatedAt,
    UpdatedAt,
}
