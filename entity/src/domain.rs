//! Domain enums shared by the API and the worker, stored as short strings so
//! that the same schema works on SQLite, PostgreSQL and MySQL, and the
//! cluster id type.

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
    /// A finished task never runs again, whatever the queue hands out.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TaskStatus::Succeeded | TaskStatus::Failed | TaskStatus::Cancelled
        )
    }
}

/// Every kind of work a worker knows how to do. Each capability adds a
/// variant here and a module under `worker/src/jobs/`; the worker's dispatch
/// (`jobs::execute`) is a `match` without a catch-all, so a new kind does not
/// compile until it has a job.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(64))")]
pub enum TaskKind {
    /// Does nothing but sleep or fail on request: for tests and benchmarks.
    #[sea_orm(string_value = "ping")]
    #[serde(rename = "ping")]
    Ping,
    /// Creates one Kafka topic and waits until it is writable.
    #[sea_orm(string_value = "topic.create")]
    #[serde(rename = "topic.create")]
    TopicCreate,
    /// Prechecks a new changefeed, fixes its start position and starts it.
    #[sea_orm(string_value = "changefeed.create")]
    #[serde(rename = "changefeed.create")]
    ChangefeedCreate,
    #[sea_orm(string_value = "changefeed.pause")]
    #[serde(rename = "changefeed.pause")]
    ChangefeedPause,
    #[sea_orm(string_value = "changefeed.resume")]
    #[serde(rename = "changefeed.resume")]
    ChangefeedResume,
    /// Pauses a running changefeed, applies the change, resumes it.
    #[sea_orm(string_value = "changefeed.update")]
    #[serde(rename = "changefeed.update")]
    ChangefeedUpdate,
    #[sea_orm(string_value = "changefeed.delete")]
    #[serde(rename = "changefeed.delete")]
    ChangefeedDelete,
    /// Deletes one Kafka topic and waits until the metadata no longer shows it.
    #[sea_orm(string_value = "topic.delete")]
    #[serde(rename = "topic.delete")]
    TopicDelete,
    /// Sets or resets configs of one Kafka topic (IncrementalAlterConfigs).
    #[sea_orm(string_value = "topic.config")]
    #[serde(rename = "topic.config")]
    TopicConfigAlter,
    /// Sets or resets configs of one Kafka broker, or the cluster-wide
    /// defaults (IncrementalAlterConfigs).
    #[sea_orm(string_value = "broker.config")]
    #[serde(rename = "broker.config")]
    BrokerConfigAlter,
    /// Raises the partition count of one Kafka topic (CreatePartitions).
    #[sea_orm(string_value = "topic.partitions")]
    #[serde(rename = "topic.partitions")]
    TopicPartitions,
    /// Creates one Kafka ACL (CreateAcls).
    #[sea_orm(string_value = "acl.create")]
    #[serde(rename = "acl.create")]
    AclCreate,
    /// Deletes the Kafka ACLs a filter matches (DeleteAcls).
    #[sea_orm(string_value = "acl.delete")]
    #[serde(rename = "acl.delete")]
    AclDelete,
    /// Moves partitions' replicas to given brokers
    /// (AlterPartitionReassignments), throttled, and waits until they moved.
    #[sea_orm(string_value = "partition.reassign")]
    #[serde(rename = "partition.reassign")]
    PartitionReassign,
    /// Moves every replica off one broker (a throttled reassignment planned
    /// when the task runs), so that the broker can be shut down.
    #[sea_orm(string_value = "broker.remove")]
    #[serde(rename = "broker.remove")]
    BrokerRemove,
    /// Carries out a changeset's plan: submits its changes' tasks phase by
    /// phase and waits for each phase.
    #[sea_orm(string_value = "changeset.apply")]
    #[serde(rename = "changeset.apply")]
    ChangesetApply,
    /// Compares a watched changeset with the live cluster, and reverts what
    /// drifted when the changeset asks.
    #[sea_orm(string_value = "changeset.drift")]
    #[serde(rename = "changeset.drift")]
    ChangesetDrift,
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
}

/// Why a task ended `failed` (or `cancelled`), as callers need to tell:
/// whether repeating the request can help.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The job said no attempt can succeed: bad input, conflicting state,
    /// the cluster refusing the change.
    #[sea_orm(string_value = "permanent")]
    Permanent,
    /// Every attempt failed with an error that might have passed.
    #[sea_orm(string_value = "gave_up")]
    GaveUp,
    /// The last attempt ran past its kind's time limit.
    #[sea_orm(string_value = "timed_out")]
    TimedOut,
    /// Cancelled before it ran.
    #[sea_orm(string_value = "cancelled")]
    Cancelled,
}

impl FailureKind {
    /// Whether the cause may pass by itself (the cluster was unreachable or
    /// slow), so that the same request could succeed later.
    pub fn is_transient(self) -> bool {
        matches!(self, FailureKind::GaveUp | FailureKind::TimedOut)
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

/// A changefeed's state, as TiEM names it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum ChangefeedState {
    /// Created, not yet running.
    #[sea_orm(string_value = "Initial")]
    Initial,
    /// Replicating.
    #[sea_orm(string_value = "Normal")]
    Normal,
    /// Paused by a user.
    #[sea_orm(string_value = "Stopped")]
    Stopped,
    /// Reached its end (not used while changefeeds have no target TS).
    #[sea_orm(string_value = "Finished")]
    Finished,
    /// Failing and retrying with backoff.
    #[sea_orm(string_value = "Error")]
    Error,
    /// Gave up: an unrecoverable error, or errors for too long.
    #[sea_orm(string_value = "Failed")]
    Failed,
}

/// What the supervisors should make true of a changefeed.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "lowercase")]
pub enum Desired {
    /// Some worker runs its engine.
    #[sea_orm(string_value = "running")]
    Running,
    /// No worker runs it.
    #[sea_orm(string_value = "stopped")]
    Stopped,
}

/// Where a changefeed writes.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "lowercase")]
pub enum DownstreamType {
    #[sea_orm(string_value = "mysql")]
    Mysql,
    #[sea_orm(string_value = "tidb")]
    Tidb,
    #[sea_orm(string_value = "kafka")]
    Kafka,
}

/// How an audited call ended.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "lowercase")]
pub enum AuditOutcome {
    /// A 1xx-3xx answer.
    #[sea_orm(string_value = "success")]
    Success,
    /// A 4xx or 5xx answer.
    #[sea_orm(string_value = "failure")]
    Failure,
}

/// Each enum's names, as stored and shown: `as_str`, `parse` and
/// `Display`. They are the `string_value`s of its `DeriveActiveEnum`.
macro_rules! names {
    ($($ty:ident { $($variant:ident => $name:literal),+ $(,)? })+) => {
        $(
            impl $ty {
                pub fn as_str(self) -> &'static str {
                    match self {
                        $($ty::$variant => $name,)+
                    }
                }

                pub fn parse(s: &str) -> Option<Self> {
                    match s {
                        $($name => Some($ty::$variant),)+
                        _ => None,
                    }
                }
            }

            impl std::fmt::Display for $ty {
                fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str(self.as_str())
                }
            }
        )+
    };
}

names! {
    TaskStatus {
        Pending => "pending",
        Running => "running",
        Succeeded => "succeeded",
        Failed => "failed",
        Cancelled => "cancelled",
    }
    TaskKind {
        Ping => "ping",
        TopicCreate => "topic.create",
        ChangefeedCreate => "changefeed.create",
        ChangefeedPause => "changefeed.pause",
        ChangefeedResume => "changefeed.resume",
        ChangefeedUpdate => "changefeed.update",
        ChangefeedDelete => "changefeed.delete",
        TopicDelete => "topic.delete",
        TopicConfigAlter => "topic.config",
        BrokerConfigAlter => "broker.config",
        TopicPartitions => "topic.partitions",
        AclCreate => "acl.create",
        AclDelete => "acl.delete",
        PartitionReassign => "partition.reassign",
        BrokerRemove => "broker.remove",
        ChangesetApply => "changeset.apply",
        ChangesetDrift => "changeset.drift",
    }
    FailureKind {
        Permanent => "permanent",
        GaveUp => "gave_up",
        TimedOut => "timed_out",
        Cancelled => "cancelled",
    }
    Role {
        Viewer => "viewer",
        Client => "client",
        Admin => "admin",
    }
    ClusterKind {
        Kafka => "kafka",
        Mysql => "mysql",
        Tidb => "tidb",
    }
    ChangefeedState {
        Initial => "Initial",
        Normal => "Normal",
        Stopped => "Stopped",
        Finished => "Finished",
        Error => "Error",
        Failed => "Failed",
    }
    DownstreamType {
        Mysql => "mysql",
        Tidb => "tidb",
        Kafka => "kafka",
    }
    AuditOutcome {
        Success => "success",
        Failure => "failure",
    }
    ChangesetStatus {
        Planned => "planned",
        Refused => "refused",
        AwaitingApproval => "awaitingApproval",
        Applying => "applying",
        Applied => "applied",
        Failed => "failed",
        Stale => "stale",
        Superseded => "superseded",
    }
}

/// Where a changeset is in its life.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
#[serde(rename_all = "camelCase")]
pub enum ChangesetStatus {
    /// Planned; nothing applied.
    #[sea_orm(string_value = "planned")]
    Planned,
    /// The plan holds a change that cannot be applied.
    #[sea_orm(string_value = "refused")]
    Refused,
    /// Applied, waiting for a second token's approval before any task runs.
    #[sea_orm(string_value = "awaitingApproval")]
    AwaitingApproval,
    #[sea_orm(string_value = "applying")]
    Applying,
    #[sea_orm(string_value = "applied")]
    Applied,
    /// A step's task failed; the changeset can be resumed.
    #[sea_orm(string_value = "failed")]
    Failed,
    /// The live state moved between plan and apply: plan again.
    #[sea_orm(string_value = "stale")]
    Stale,
    /// A newer changeset of the same name was applied.
    #[sea_orm(string_value = "superseded")]
    Superseded,
}

/// A registered cluster's id: the `clusters` primary key, and what tasks and
/// changefeeds refer to. Every dialect sends it as a number or a string
/// holding one; [`ClusterId::parse`] reads both.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    DeriveValueType,
    Serialize,
    Deserialize,
)]
#[serde(transparent)]
pub struct ClusterId(pub i64);

impl ClusterId {
    /// Parses an id as any dialect sends it: `"12"`, `" 12 "` (a number is
    /// passed as its text). Ids are positive.
    pub fn parse(raw: &str) -> Option<ClusterId> {
        raw.trim()
            .parse::<i64>()
            .ok()
            .filter(|id| *id > 0)
            .map(ClusterId)
    }

    /// Reads an id from a JSON value: a positive number, or a string holding
    /// one. `None` for anything else.
    pub fn from_json(value: &serde_json::Value) -> Option<ClusterId> {
        match value {
            serde_json::Value::Number(n) => n.as_i64().filter(|id| *id > 0).map(ClusterId),
            serde_json::Value::String(s) => ClusterId::parse(s),
            _ => None,
        }
    }
}

impl std::fmt::Display for ClusterId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::Iterable;

    use super::*;

    #[test]
    fn cluster_ids_parse_from_numbers_and_strings() {
        assert_eq!(ClusterId::parse("12"), Some(ClusterId(12)));
        assert_eq!(ClusterId::parse(" 7 "), Some(ClusterId(7)));
        assert_eq!(ClusterId::parse("x"), None);
        assert_eq!(ClusterId::parse("0"), None);
        assert_eq!(ClusterId::parse("-3"), None);
        assert_eq!(
            ClusterId::from_json(&serde_json::json!(5)),
            Some(ClusterId(5))
        );
        assert_eq!(
            ClusterId::from_json(&serde_json::json!("5")),
            Some(ClusterId(5))
        );
        assert_eq!(ClusterId::from_json(&serde_json::json!(1.5)), None);
        assert_eq!(ClusterId::from_json(&serde_json::json!(true)), None);
    }

    /// The names of `names!` are the stored values of `DeriveActiveEnum`.
    fn names_are_the_stored_values<E>(as_str: fn(E) -> &'static str, parse: fn(&str) -> Option<E>)
    where
        E: ActiveEnum<Value = String> + Iterable + Copy + PartialEq + std::fmt::Debug,
    {
        for v in E::iter() {
            assert_eq!(as_str(v), v.to_value(), "{v:?}");
            assert_eq!(parse(as_str(v)), Some(v));
        }
    }

    #[test]
    fn every_enum_shows_what_it_stores() {
        names_are_the_stored_values(TaskStatus::as_str, TaskStatus::parse);
        names_are_the_stored_values(TaskKind::as_str, TaskKind::parse);
        names_are_the_stored_values(FailureKind::as_str, FailureKind::parse);
        names_are_the_stored_values(Role::as_str, Role::parse);
        names_are_the_stored_values(ClusterKind::as_str, ClusterKind::parse);
        names_are_the_stored_values(ChangefeedState::as_str, ChangefeedState::parse);
        names_are_the_stored_values(DownstreamType::as_str, DownstreamType::parse);
        names_are_the_stored_values(AuditOutcome::as_str, AuditOutcome::parse);
        names_are_the_stored_values(ChangesetStatus::as_str, ChangesetStatus::parse);
    }

    #[test]
    fn kinds_round_trip_through_their_names() {
        for kind in TaskKind::iter() {
            assert_eq!(TaskKind::parse(kind.as_str()), Some(kind));
            let json = serde_json::to_value(kind).unwrap();
            assert_eq!(json, serde_json::json!(kind.as_str()));
        }
    }
}
