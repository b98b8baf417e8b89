//! One module per task kind (the changefeed operations share a folder). A job receives its task row and returns either a
//! JSON result or an error that says whether trying again can help.

use std::sync::Arc;

use ferry_entity::{FailureKind, TaskKind, task::Model};
use ferry_service::{
    error::{ErrorKind, ServiceError},
    kafka::{KafkaClients, KafkaCluster, admin::AdminError},
    store::Store,
};
use serde_json::Value;

use self::topic_create::TopicCreator;

pub mod changefeed;

pub mod acl_create;
pub mod acl_delete;
pub mod changeset;
pub mod ping;
pub mod reassign;
pub mod topic_config;
pub mod topic_create;
pub mod topic_delete;
pub mod topic_partitions;

/// Why a job did not succeed, and whether another attempt can help.
#[derive(Debug, Clone, thiserror::Error)]
pub enum JobError {
    /// Transient: the broker was unreachable, a timeout, a lost leadership.
    /// The task is retried with exponential backoff up to its attempt limit.
    #[error("{0}")]
    Retryable(String),
    /// Nothing will change by retrying: bad input, conflicting state. The task
    /// fails at once with this reason.
    #[error("{0}")]
    Permanent(String),
    /// The attempt ran past its kind's time limit; retried like
    /// [`JobError::Retryable`].
    #[error("attempt timed out after {0:?}")]
    TimedOut(std::time::Duration),
}

impl JobError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, JobError::Retryable(_) | JobError::TimedOut(_))
    }

    /// How a task fails when this is its last attempt's error.
    pub fn failure(&self) -> FailureKind {
        match self {
            JobError::Permanent(_) => FailureKind::Permanent,
            JobError::Retryable(_) => FailureKind::GaveUp,
            JobError::TimedOut(_) => FailureKind::TimedOut,
        }
    }

    /// The metadata store failed: worth another attempt.
    pub fn store(err: impl std::fmt::Display) -> JobError {
        JobError::Retryable(format!("metadata store error: {err}"))
    }

    /// A typed payload that does not parse will never parse.
    pub fn payload(err: ferry_entity::task::PayloadError) -> JobError {
        JobError::Permanent(err.to_string())
    }

    /// The same error, its message rewritten (e.g. prefixed with context).
    pub fn map_message(self, f: impl FnOnce(String) -> String) -> JobError {
        match self {
            JobError::Retryable(m) => JobError::Retryable(f(m)),
            JobError::Permanent(m) => JobError::Permanent(f(m)),
            timed_out @ JobError::TimedOut(_) => timed_out,
        }
    }
}

/// What the jobs of one worker process share.
#[derive(Debug)]
pub struct Resources {
    /// One topic creation loop per cluster.
    pub topics: TopicCreator,
    /// The worker's Kafka clients of registered clusters, built on first use.
    pub kafka: KafkaClients,
}

/// What a job may use while it runs.
pub struct JobContext<'a> {
    pub store: &'a Store,
    pub task: &'a Model,
    pub resources: &'a Resources,
}

/// Runs the task's job. The `match` has no catch-all: a new [`TaskKind`]
/// does not compile until it has one.
pub async fn execute(ctx: JobContext<'_>) -> Result<Value, JobError> {
    match ctx.task.kind {
        TaskKind::Ping => ping::run(ctx).await,
        TaskKind::TopicCreate => topic_create::run(ctx).await,
        TaskKind::TopicDelete => topic_delete::run(ctx).await,
        TaskKind::TopicConfigAlter | TaskKind::BrokerConfigAlter => topic_config::run(ctx).await,
        TaskKind::TopicPartitions => topic_partitions::run(ctx).await,
        TaskKind::AclCreate => acl_create::run(ctx).await,
        TaskKind::AclDelete => acl_delete::run(ctx).await,
        TaskKind::PartitionReassign => reassign::run_partition_reassign(ctx).await,
        TaskKind::BrokerRemove => reassign::run_broker_remove(ctx).await,
        TaskKind::ChangefeedCreate => changefeed::create::run(ctx).await,
        TaskKind::ChangefeedPause => changefeed::pause::run(ctx).await,
        TaskKind::ChangefeedResume => changefeed::resume::run(ctx).await,
        TaskKind::ChangefeedUpdate => changefeed::update::run(ctx).await,
        TaskKind::ChangefeedDelete => changefeed::delete::run(ctx).await,
        TaskKind::ChangesetApply => changeset::run_apply(ctx).await,
        TaskKind::ChangesetDrift => changeset::run_drift(ctx).await,
    }
}

/// Undoes what a job cancelled while it ran had started, where its kind
/// leaves something behind: a reassignment's moves and throttle. The other
/// kinds' steps are each complete or not started.
pub async fn after_cancel(ctx: JobContext<'_>) {
    match ctx.task.kind {
        TaskKind::PartitionReassign | TaskKind::BrokerRemove => reassign::cancel(ctx).await,
        TaskKind::ChangesetApply => changeset::after_cancel(ctx).await,
        TaskKind::Ping
        | TaskKind::TopicCreate
        | TaskKind::TopicDelete
        | TaskKind::TopicConfigAlter
        | TaskKind::BrokerConfigAlter
        | TaskKind::TopicPartitions
        | TaskKind::AclCreate
        | TaskKind::AclDelete
        | TaskKind::ChangefeedCreate
        | TaskKind::ChangefeedPause
        | TaskKind::ChangefeedResume
        | TaskKind::ChangefeedUpdate
        | TaskKind::ChangefeedDelete
        | TaskKind::ChangesetDrift => {}
    }
}

/// The metadata store failed: worth another attempt.
impl From<sea_orm::DbErr> for JobError {
    fn from(err: sea_orm::DbErr) -> Self {
        JobError::store(err)
    }
}

/// A registry's error as a job's: the store or a cluster not answering may
/// pass; anything else will not.
impl From<ServiceError> for JobError {
    fn from(err: ServiceError) -> Self {
        match err.kind() {
            ErrorKind::Unavailable | ErrorKind::Busy => JobError::Retryable(err.detail()),
            ErrorKind::NotFound
            | ErrorKind::Conflict
            | ErrorKind::Invalid
            | ErrorKind::Forbidden => JobError::Permanent(err.message().to_owned()),
        }
    }
}

/// A failed admin call as a job's error: retried when trying again can help
/// (the cluster unreachable or slow), permanent otherwise (the broker
/// refused the request, or does not implement it).
pub fn admin_error(message: String, err: &AdminError) -> JobError {
    if err.is_retryable() {
        JobError::Retryable(message)
    } else {
        JobError::Permanent(message)
    }
}

/// The client of the cluster a Kafka task belongs to.
pub async fn task_cluster(ctx: &JobContext<'_>) -> Result<Arc<KafkaCluster>, JobError> {
    let kind = ctx.task.kind.as_str();
    let cluster_id = ctx
        .task
        .cluster_id
        .ok_or_else(|| JobError::Permanent(format!("{kind} task without a cluster")))?;
    ctx.resources
        .kafka
        .get(ctx.store, cluster_id)
        .await
        .map_err(|e| match e.kind() {
            ErrorKind::NotFound => JobError::Permanent(format!(
                "cluster {cluster_id} was removed or is not a kafka cluster"
            )),
            _ => e.into(),
        })
}
