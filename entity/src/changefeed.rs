//! A changefeed: what to replicate from where to where, its state, its
//! progress (as TiDB TSOs) and which worker currently owns it.

use sea_orm::entity::prelude::*;

use crate::{
    domain::{ChangefeedState, ClusterId, Desired, DownstreamType},
    payload::{ChangefeedOptions, Checkpoint},
};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "changefeeds")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub name: String,
    /// The upstream: a registered cluster of kind mysql.
    pub cluster_id: ClusterId,
    pub downstream_type: DownstreamType,
    /// Downstream settings as TiEM sends them, without the password.
    pub downstream: Json,
    /// The downstream password, encrypted (see `ferry_worker::secrets`).
    pub downstream_secret: Option<String>,
    /// TiDB table-filter rules.
    pub rules: Json,
    /// `workerCount`, `maxTxnRow`, `force` and other engine options.
    pub options: Json,
    pub start_ts: i64,
    pub state: ChangefeedState,
    /// What the supervisor should make true.
    pub desired: Desired,
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
    /// The `changefeed.update` task that paused this running changefeed to
    /// change it; it resumes it when done, whichever attempt finishes.
    pub resume_after: Option<String>,
    /// The project that owns it, if any.
    pub project_id: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// A stored column of a changefeed that does not parse: the changefeed
/// fails with this reason rather than run on a default (an empty rule list
/// would replicate every table).
#[derive(Debug, thiserror::Error)]
#[error("changefeed {id}: stored {column} unreadable: {source}")]
pub struct StoredColumnError {
    pub id: String,
    pub column: &'static str,
    #[source]
    pub source: serde_json::Error,
}

impl Model {
    fn column<T: serde::de::DeserializeOwned>(
        &self,
        column: &'static str,
        value: &Json,
    ) -> Result<T, StoredColumnError> {
        serde_json::from_value(value.clone()).map_err(|source| StoredColumnError {
            id: self.id.clone(),
            column,
            source,
        })
    }

    /// The TiDB table-filter rules.
    pub fn rules(&self) -> Result<Vec<String>, StoredColumnError> {
        self.column("rules", &self.rules)
    }

    pub fn options(&self) -> Result<ChangefeedOptions, StoredColumnError> {
        self.column("options", &self.options)
    }

    /// Where replication resumes, once the changefeed has started.
    pub fn checkpoint(&self) -> Result<Option<Checkpoint>, StoredColumnError> {
        match &self.checkpoint {
            None => Ok(None),
            Some(value) => self.column("checkpoint", value).map(Some),
        }
    }
}
