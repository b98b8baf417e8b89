//! A stable UUID for every registered cluster (DigitalOcean's
//! `database_cluster_uuid`), and `topic_notes`: what ferry keeps about a
//! topic that Kafka does not (EasyQueue's description, created and updated
//! times).

use sea_orm_migration::{prelude::*, schema::*, sea_orm::Statement};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Added with an empty default, filled row by row, then made unique:
        // SQLite cannot add a NOT NULL column without a default, and neither
        // store generates UUIDs in SQL the same way.
        manager
            .alter_table(
                Table::alter()
                    .table(Clusters::Table)
                    .add_column(string_len(Clusters::Uuid, 36).default(""))
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        let backend = manager.get_database_backend();
        let ids = db
            .query_all_raw(Statement::from_string(
                backend,
                "SELECT id FROM clusters WHERE uuid = ''",
            ))
            .await?;
        for row in ids {
            let id: i64 = row.try_get("", "id")?;
            let update = Query::update()
                .table(Clusters::Table)
                .value(Clusters::Uuid, uuid::Uuid::new_v4().to_string())
                .and_where(Expr::col(Clusters::Id).eq(id))
                .to_owned();
            manager.exec_stmt(update).await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("idx_clusters_uuid")
                    .table(Clusters::Table)
                    .col(Clusters::Uuid)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(TopicNotes::Table)
                    .if_not_exists()
                    .col(big_integer(TopicNotes::ClusterId))
                    .col(string_len(TopicNotes::Name, 249))
                    .col(string_len(TopicNotes::Description, 1024))
                    .col(timestamp_with_time_zone(TopicNotes::CreatedAt))
                    .col(timestamp_with_time_zone(TopicNotes::UpdatedAt))
                    .primary_key(
                        Index::create()
                            .col(TopicNotes::ClusterId)
                            .col(TopicNotes::Name),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(TopicNotes::Table).to_owned())
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("idx_clusters_uuid")
                    .table(Clusters::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Clusters::Table)
                    .drop_column(Clusters::Uuid)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Clusters {
    Table,
    Id,
    Uuid,
}

#[derive(DeriveIden)]
enum TopicNotes {
    Table,
    ClusterId,
    Name,
    Description,
    CreatedAt,
    UpdatedAt,
}
