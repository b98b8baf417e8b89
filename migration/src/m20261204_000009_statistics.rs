//! Statistics over time (`ferry_service::stats`): what the workers' samplers
//! read from each Kafka cluster, kept compact enough that 1,000 topics of 10
//! partitions fit 90 days in well under 1 GiB of SQLite.
//!
//! - `stat_names`: topic and consumer-group names interned to small integer
//!   ids per cluster, so that a sample row carries integers only.
//! - `stat_samples`: one row per topic per sample and tier (raw, 10 min,
//!   1 h), keyed by `(cluster_id, topic_id, tier, ts)`. On SQLite it is a
//!   `WITHOUT ROWID` table: the rows live in the primary key's b-tree, with
//!   no second copy of the key in a rowid index.
//! - `stat_samplers`: one row per sampled cluster: the lease (`owner`,
//!   `lease_until`) that lets one worker sample it at a time, and when and
//!   how fast it last did.

use sea_orm_migration::{prelude::*, sea_orm::DatabaseBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let (id, blob, without_rowid) = match manager.get_database_backend() {
            DatabaseBackend::Sqlite => (
                "INTEGER PRIMARY KEY AUTOINCREMENT",
                "BLOB",
                " WITHOUT ROWID",
            ),
            DatabaseBackend::Postgres => ("BIGSERIAL PRIMARY KEY", "BYTEA", ""),
            _ => {
                return Err(DbErr::Migration(
                    "statistics are kept on SQLite and PostgreSQL only".into(),
                ));
            }
        };
        db.execute_unprepared(&format!(
            "CREATE TABLE IF NOT EXISTS stat_names (
                id {id},
                cluster_id BIGINT NOT NULL,
                name VARCHAR(255) NOT NULL,
                UNIQUE (cluster_id, name)
            )"
        ))
        .await?;
        db.execute_unprepared(&format!(
            "CREATE TABLE IF NOT EXISTS stat_samples (
                cluster_id BIGINT NOT NULL,
                topic_id BIGINT NOT NULL,
                tier SMALLINT NOT NULL,
                ts BIGINT NOT NULL,
                messages BIGINT NOT NULL,
                produced BIGINT NOT NULL,
                record_bytes DOUBLE PRECISION,
                detail {blob} NOT NULL,
                PRIMARY KEY (cluster_id, topic_id, tier, ts)
            ){without_rowid}"
        ))
        .await?;
        // Times are epoch milliseconds: compared, never shown as dates.
        db.execute_unprepared(
            "CREATE TABLE IF NOT EXISTS stat_samplers (
                cluster_id BIGINT NOT NULL PRIMARY KEY,
                owner VARCHAR(128),
                lease_until_ms BIGINT,
                interval_seconds BIGINT NOT NULL,
                last_sample_ms BIGINT,
                last_duration_ms BIGINT,
                last_error TEXT
            )",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for table in ["stat_samplers", "stat_samples", "stat_names"] {
            db.execute_unprepared(&format!("DROP TABLE IF EXISTS {table}"))
                .await?;
        }
        Ok(())
    }
}
