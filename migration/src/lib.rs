//! Schema migrations for ferry's own tables. They run on SQLite, PostgreSQL
//! and MySQL; the apalis queue tables are created by apalis itself (see
//! `ferry_service::store`).

pub use sea_orm_migration::prelude::*;

mod m20261123_000001_initial;
mod m20261123_000002_locks;
mod m20261123_000003_changefeeds;
mod m20261203_000004_typed_columns;
mod m20261203_000005_changefeed_resume;
mod m20261203_000006_meta;
mod m20261203_000007_projects;
mod m20261204_000008_topic_registry;
mod m20261204_000009_statistics;
mod m20261204_000010_stat_detail_format;
mod m20261204_000011_stat_sampler_cpu;
mod m20261204_000012_consumer_instances;
mod m20261205_000013_task_fillfactor;
mod m20261205_000014_audit_request;
mod m20261205_000015_changesets;
mod m20261205_000016_task_request;
mod m20261205_000017_task_job_key;
mod m20261205_000018_task_hot_updates;
mod m20261205_000019_task_queue;
mod m20261205_000020_task_fillfactor_two_versions;
mod m20261205_000021_task_awaited;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_initial::Migration),
            Box::new(m20261123_000002_locks::Migration),
            Box::new(m20261123_000003_changefeeds::Migration),
            Box::new(m20261203_000004_typed_columns::Migration),
            Box::new(m20261203_000005_changefeed_resume::Migration),
            Box::new(m20261203_000006_meta::Migration),
            Box::new(m20261203_000007_projects::Migration),
            Box::new(m20261204_000008_topic_registry::Migration),
            Box::new(m20261204_000009_statistics::Migration),
            Box::new(m20261204_000010_stat_detail_format::Migration),
            Box::new(m20261204_000011_stat_sampler_cpu::Migration),
            Box::new(m20261204_000012_consumer_instances::Migration),
            Box::new(m20261205_000013_task_fillfactor::Migration),
            Box::new(m20261205_000014_audit_request::Migration),
            Box::new(m20261205_000015_changesets::Migration),
            Box::new(m20261205_000016_task_request::Migration),
            Box::new(m20261205_000017_task_job_key::Migration),
            Box::new(m20261205_000018_task_hot_updates::Migration),
            Box::new(m20261205_000019_task_queue::Migration),
            Box::new(m20261205_000020_task_fillfactor_two_versions::Migration),
            Box::new(m20261205_000021_task_awaited::Migration),
        ]
    }

    fn migration_table_name() -> DynIden {
        "ferry_migrations".into_iden()
    }
}
