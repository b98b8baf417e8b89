//! Domain enums shared by the API and the worker, stored as short strings so
//! that the same schema works on SQLite, PostgreSQL and MySQL.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// Where a task is in its life cycle. `pending` covers both "never started"
/// and "waiting for its next attempt after a retryable failure".
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "lowercase")]
pub enum TaskStatus {
    #[sea_orm(string_value = "pending")]
    Pending,
    #[sea_orm(string_value = "running")]
    Running,
    #[sea_orm(string_value = "succeeded")]
    Succeeded,
    #[sea_orm(string_value = "failed")]
    Failed,
    #[sea_orm(string_value = "cancelled")]
    Cancelled,
}

impl TaskStatus {
    pub const ALL: [TaskStatus; 5] = [
        TaskStatus::Pending,
        TaskStatus::Running,
        TaskStatus::Succeeded,
        TaskStatus::Failed,
        TaskStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Pending => "pending",
            TaskStatus::Running => "running",
            TaskStatus::Succeeded => "succeeded",
            TaskStatus::Failed => "failed",
            TaskStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// A finished task never runs again, whatever the queue hands out.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TaskStatus::Succeeded | TaskStatus::Failed | TaskStatus::Cancelled
        )
    }
}

/// Every kind of work a worker knows how to do. Each later capability (topic
/// creation, changefeed operations) adds a variant here and a module under
/// `worker/src/jobs/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TaskKind {
    /// Does nothing but sleep or fail on request: for tests and benchmarks.
    #[serde(rename = "ping")]
    Ping,
    /// Creates one Kafka topic and waits until it is writable.
    #[serde(rename = "topic.create")]
    TopicCreate,
    /// Prechecks a new changefeed, fixes its start position and starts it.
    #[serde(rename = "changefeed.create")]
    ChangefeedCreate,
    #[serde(rename = "changefeed.pause")]
    ChangefeedPause,
    #[serde(rename = "changefeed.resume")]
    ChangefeedResume,
    /// Pauses a running changefeed, applies the change, resumes it.
    #[serde(rename = "changefeed.update")]
    ChangefeedUpdate,
    #[serde(rename = "changefeed.delete")]
    ChangefeedDelete,
    /// Deletes one Kafka topic and waits until the metadata no longer shows it.
    #[serde(rename = "topic.delete")]
    TopicDelete,
    /// Sets or resets configs of one Kafka topic (IncrementalAlterConfigs).
    #[serde(rename = "topic.config")]
    TopicConfigAlter,
    /// Sets or resets configs of one Kafka broker (IncrementalAlterConfigs).
    #[serde(rename = "broker.config")]
    BrokerConfigAlter,
}

impl TaskKind {
    /// Whether this kind operates on a changefeed (its subject is the id).
    pub fn is_changefeed_operation(self) -> bool {
        matches!(
            self,
            TaskKind::ChangefeedCreate
                | TaskKind::ChangefeedPause
                | TaskKind::ChangefeedResume
                | TaskKind::ChangefeedUpdate
                | TaskKind::ChangefeedDelete
        )
    }

    pub const ALL: [TaskKind; 10] = [
        TaskKind::Ping,
        TaskKind::TopicCreate,
        TaskKind::ChangefeedCreate,
        TaskKind::ChangefeedPause,
        TaskKind::ChangefeedResume,
        TaskKind::ChangefeedUpdate,
        TaskKind::ChangefeedDelete,
        TaskKind::TopicDelete,
        TaskKind::TopicConfigAlter,
        TaskKind::BrokerConfigAlter,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TaskKind::Ping => "ping",
            TaskKind::TopicCreate => "topic.create",
            TaskKind::ChangefeedCreate => "changefeed.create",
            TaskKind::ChangefeedPause => "changefeed.pause",
            TaskKind::ChangefeedResume => "changefeed.resume",
            TaskKind::ChangefeedUpdate => "changefeed.update",
            TaskKind::ChangefeedDelete => "changefeed.delete",
            TaskKind::TopicDelete => "topic.delete",
            TaskKind::TopicConfigAlter => "topic.config",
            TaskKind::BrokerConfigAlter => "broker.config",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// Access levels, from most to least powerful.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    EnumIter,
    DeriveActiveEnum,
    Serialize,
    Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read only.
    #[sea_orm(string_value = "viewer")]
    Viewer,
    /// May submit tasks and read.
    #[sea_orm(string_value = "client")]
    Client,
    /// Everything, including tokens, clusters and the audit log.
    #[sea_orm(string_value = "admin")]
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Client => "client",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Role::Viewer, Role::Client, Role::Admin]
            .into_iter()
            .find(|v| v.as_str() == s)
    }

    /// Whether a caller with this role may do what `needed` allows.
    pub fn allows(self, needed: Role) -> bool {
        self >= needed
    }
}

/// The kinds of cluster ferry can register.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "lowercase")]
pub enum ClusterKind {
    #[sea_orm(string_value = "kafka")]
    Kafka,
    #[sea_orm(string_value = "mysql")]
    Mysql,
    #[sea_orm(string_value = "tidb")]
    Tidb,
}

impl ClusterKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ClusterKind::Kafka => "kafka",
            ClusterKind::Mysql => "mysql",
            ClusterKind::Tidb => "tidb",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [ClusterKind::Kafka, ClusterKind::Mysql, ClusterKind::Tidb]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// What travels through the apalis queue: only task ids. Everything else is
/// read from the `tasks` rows, so the rows stay the single source of truth.
/// A job usually runs one task; kinds that batch (topic creation) run the
/// tasks of one request together: `task_id` leads, `batch` lists the others.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskJob {
    pub task_id: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub batch: Vec<String>,
}

/// A changefeed's state, as TiEM names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ChangefeedState {
    /// Created, not yet running.
    Initial,
    /// Replicating.
    Normal,
    /// Paused by a user.
    Stopped,
    /// Reached its end (not used while changefeeds have no target TS).
    Finished,
    /// Failing and retrying with backoff.
    Error,
    /// Gave up: an unrecoverable error, or errors for too long.
    Failed,
}

impl ChangefeedState {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangefeedState::Initial => "Initial",
            ChangefeedState::Normal => "Normal",
            ChangefeedState::Stopped => "Stopped",
            ChangefeedState::Finished => "Finished",
            ChangefeedState::Error => "Error",
            ChangefeedState::Failed => "Failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            ChangefeedState::Initial,
            ChangefeedState::Normal,
            ChangefeedState::Stopped,
            ChangefeedState::Finished,
            ChangefeedState::Error,
            ChangefeedState::Failed,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}
