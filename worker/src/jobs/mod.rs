//! One module per task kind. A job receives its task row and returns either a
//! JSON result or an error that says whether trying again can help.

use std::time::Duration;

use ferry_entity::{TaskKind, task::Model};
use serde_json::Value;

use crate::{runner::WorkerState, store::Store};

pub mod changefeed;
pub mod ping;
pub mod topic_config;
pub mod topic_create;
pub mod topic_delete;

/// Why a job did not succeed, and whether another attempt can help.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Transient: the broker was unreachable, a timeout, a lost leadership.
    /// The task is retried with exponential backoff up to its attempt limit.
    #[error("{0}")]
    Retryable(String),
    /// Nothing will change by retrying: bad input, conflicting state. The task
    /// fails at once with this reason.
    #[error("{0}")]
    Permanent(String),
}

impl JobError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, JobError::Retryable(_))
    }

    /// The metadata store failed: worth another attempt.
    pub fn store(err: impl std::fmt::Display) -> JobError {
        JobError::Retryable(format!("metadata store error: {err}"))
    }

    /// The same error, its message rewritten (e.g. prefixed with context).
    pub fn map_message(self, f: impl FnOnce(String) -> String) -> JobError {
        match self {
            JobError::Retryable(m) => JobError::Retryable(f(m)),
            JobError::Permanent(m) => JobError::Permanent(f(m)),
        }
    }
}

/// How many attempts a kind gets and how long each may take.
#[derive(Debug, Clone, Copy)]
pub struct KindPolicy {
    pub max_attempts: i32,
    pub attempt_timeout: Duration,
}

pub fn policy(kind: TaskKind) -> KindPolicy {
    match kind {
        TaskKind::Ping => KindPolicy {
            max_attempts: 5,
            attempt_timeout: Duration::from_secs(60),
        },
        // Brokers being restarted or a controller moving are common and
        // short; eight attempts with backoff span about two minutes.
        TaskKind::TopicCreate => KindPolicy {
            max_attempts: 8,
            attempt_timeout: Duration::from_secs(120),
        },
        // Deletion waits for the metadata to drop the topic; config changes
        // are one request. Both retry broker hiccups like topic creation.
        TaskKind::TopicDelete => KindPolicy {
            max_attempts: 8,
            attempt_timeout: Duration::from_secs(120),
        },
        TaskKind::TopicConfigAlter | TaskKind::BrokerConfigAlter => KindPolicy {
            max_attempts: 8,
            attempt_timeout: Duration::from_secs(60),
        },
        // Prechecks answer with precise permanent errors; retries cover a
        // metadata store hiccup or an owner slow to stop the engine.
        TaskKind::ChangefeedCreate
        | TaskKind::ChangefeedPause
        | TaskKind::ChangefeedResume
        | TaskKind::ChangefeedUpdate
        | TaskKind::ChangefeedDelete => KindPolicy {
            max_attempts: 5,
            attempt_timeout: Duration::from_secs(180),
        },
    }
}

/// What a job may use while it runs.
pub struct JobContext<'a> {
    pub store: &'a Store,
    pub task: &'a Model,
    pub worker: &'a WorkerState,
}

pub async fn execute(kind: TaskKind, ctx: JobContext<'_>) -> Result<Value, JobError> {
    match kind {
        TaskKind::Ping => ping::run(ctx).await,
        TaskKind::TopicCreate => topic_create::run(ctx).await,
        TaskKind::TopicDelete => topic_delete::run(ctx).await,
        TaskKind::TopicConfigAlter | TaskKind::BrokerConfigAlter => topic_config::run(ctx).await,
        kind if kind.is_changefeed_operation() => changefeed::run(kind, ctx).await,
        other => Err(JobError::Permanent(format!(
            "no job for {}",
            other.as_str()
        ))),
    }
}
