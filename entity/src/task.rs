//! A durable unit of work that users can see: one row per submitted task.

use sea_orm::entity::prelude::*;

use crate::{
    domain::{ClusterId, FailureKind, TaskKind, TaskStatus},
    payload::Payload,
};

/// The row has one more column, `awaited` (migration 21), that is no part of
/// the model: it is written and read only by the wake-up protocol between
/// a waiting caller and the worker that finishes the task (`tasks::wait`,
/// `tasks::succeed_many`), in raw SQL.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "tasks")]
pub struct Model {
    /// UUID v7 as text: sorts by creation time.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub kind: TaskKind,
    /// The registered cluster the task acts on, when it acts on one.
    pub cluster_id: Option<ClusterId>,
    pub subject: Option<String>,
    pub status: TaskStatus,
    pub attempts: i32,
    pub max_attempts: i32,
    pub last_error: Option<String>,
    /// Why a `failed` or `cancelled` task ended so.
    pub failure: Option<FailureKind>,
    pub payload: Json,
    pub result: Option<Json>,
    pub created_by: String,
    /// The project whose token submitted it, if any.
    pub project_id: Option<String>,
    pub request_id: Option<String>,
    /// The id of the first task of the request's batch this task runs in
    /// (its own, unless its kind runs in batches): a claim hands the
    /// claimed tasks that share a key to one attempt together.
    pub job_key: Option<String>,
    /// The worker process that ran the latest attempt (`task_workers`).
    pub worker: Option<String>,
    pub created_at: DateTimeUtc,
    pub started_at: Option<DateTimeUtc>,
    pub finished_at: Option<DateTimeUtc>,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// A task whose payload is not what its kind carries.
#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    #[error("a {kind} task does not carry this payload")]
    WrongKind { kind: &'static str },
    #[error("invalid {kind} payload: {source}")]
    Unreadable {
        kind: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

impl Model {
    /// The task's payload, typed.
    pub fn payload<P: Payload>(&self) -> Result<P, PayloadError> {
        let kind = self.kind.as_str();
        if !P::KINDS.contains(&self.kind) {
            return Err(PayloadError::WrongKind { kind });
        }
        serde_json::from_value(self.payload.clone())
            .map_err(|source| PayloadError::Unreadable { kind, source })
    }
}
