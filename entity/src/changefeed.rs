//! A changefeed: what to replicate from where to where, its state, its
//! progress (as TiDB TSOs) and which worker currently owns it.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "changefeeds")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub name: String,
    /// The upstream: a registered cluster of kind mysql.
    pub cluster_id: String,
    /// mysql, tidb or kafka.
    pub downstream_type: String,
    /// Downstream settings as TiEM sends them, without the password.
    pub downstream: Json,
    /// The downstream password, encrypted (see `ferry_worker::secrets`).
    pub downstream_secret: Option<String>,
    /// TiDB table-filter rules.
    pub rules: Json,
    /// `workerCount`, `maxTxnRow`, `force` and other engine options.
    pub options: Json,
    pub start_ts: i64,
    /// Initial, Normal, Stopped, Finished, Error or Failed.
    pub state: String,
    /// What the supervisor should make true: `running` or `stopped`.
    pub desired: String,
    pub error_message: Option<String>,
    pub error_at: Option<DateTimeUtc>,
    /// When the current streak of errors began; Failed after too long.
    pub error_since: Option<DateTimeUtc>,
    /// The engine's checkpoint (binlog file, position, GTID, TSO).
    pub checkpoint: Option<Json>,
    pub checkpoint_ts: i64,
    pub fetched_ts: i64,
    pub upstream_ts: i64,
    /// The binlog connection's server id, unique per changefeed.
    pub server_id: i64,
    /// The worker holding the lease, and until when.
    pub owner: Option<String>,
    pub lease_until: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
