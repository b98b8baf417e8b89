//! One sampled cluster: the lease that lets one worker sample it at a time
//! and how its last sample went. Times are epoch milliseconds.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "stat_samplers")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub cluster_id: i64,
    /// The worker that holds the lease, while `lease_until_ms` is ahead.
    pub owner: Option<String>,
    pub lease_until_ms: Option<i64>,
    /// The interval of the raw samples: the step of the finest tier.
    pub interval_seconds: i64,
    pub last_sample_ms: Option<i64>,
    /// Worker time the last sample took (Kafka reads and the writes).
    pub last_duration_ms: Option<i64>,
    /// Process CPU time the last sample took: the budget of a sample is CPU
    /// time, its wall time is mostly the broker's (migration 11).
    pub last_cpu_ms: Option<i64>,
    /// Why the last sample failed; cleared by the next that succeeds.
    pub last_error: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
