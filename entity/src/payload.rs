//! The typed JSON that ferry stores: each task kind's payload (what its job
//! reads from `tasks.payload`, as the submission wrote it) and a
//! changefeed's options, update patch and checkpoint. Reading one back is
//! the task model's `payload()` or the
//! changefeed model's typed getters; a value that does not parse is an
//! error for the caller to fail with, never a default.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::Value;

use crate::{
    acl::{AclBinding, AclFilter},
    domain::{DownstreamType, TaskKind},
};

/// A payload type and the task kinds that carry it.
pub trait Payload: Serialize + DeserializeOwned {
    /// The kinds whose tasks hold this payload.
    const KINDS: &'static [TaskKind];

    fn to_json(&self) -> Value {
        serde_json::to_value(self).expect("payloads are plain data and always serialise")
    }
}

/// `ping`: a task that does nothing, for tests and benchmarks. It can sleep,
/// fail retryably for its first attempts, or fail permanently, so the
/// queue's behaviour can be observed end to end.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PingPayload {
    /// Sleep this long in every attempt.
    pub sleep_ms: u64,
    /// Fail retryably while the attempt number is at most this.
    pub fail_times: i32,
    /// Fail permanently with this message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fail_permanently: Option<String>,
}

impl Payload for PingPayload {
    const KINDS: &'static [TaskKind] = &[TaskKind::Ping];
}

/// One topic to create.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TopicSpec {
    pub topic_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition_count: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replication_factor: Option<i32>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub configs: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The caller-supplied user (TubeMQ's `user` field), kept for the record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

/// A Kafka cluster named by address instead of a registry id: a changefeed's
/// downstream given as `ip`/`port`. Such a downstream has no SASL settings,
/// so an address holds no secret and may be stored in a task's payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KafkaAddress {
    pub bootstrap_servers: String,
    #[serde(default)]
    pub tls: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The brokers' Kafka version, for brokers that cannot say it themselves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// `topic.create`: the topic, and where its brokers are when they are not a
/// registered cluster (a changefeed's downstream by address).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TopicCreatePayload {
    #[serde(flatten)]
    pub spec: TopicSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<KafkaAddress>,
    /// The changefeed that asked for the topic, for the record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changefeed_id: Option<String>,
}

impl Payload for TopicCreatePayload {
    const KINDS: &'static [TaskKind] = &[TaskKind::TopicCreate];
}

/// `topic.delete`: the topic (also the task's subject).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopicDeletePayload {
    pub topic_name: String,
}

impl Payload for TopicDeletePayload {
    const KINDS: &'static [TaskKind] = &[TaskKind::TopicDelete];
}

/// A topic's new, larger partition count (`topic.partitions`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopicPartitionsPayload {
    pub topic_name: String,
    pub partition_count: i32,
}

impl Payload for TopicPartitionsPayload {
    const KINDS: &'static [TaskKind] = &[TaskKind::TopicPartitions];
}

/// `acl.create`: one ACL to create (CreateAcls). Creating an ACL that
/// exists is a success, so the task is idempotent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AclCreatePayload {
    pub acl: AclBinding,
}

impl Payload for AclCreatePayload {
    const KINDS: &'static [TaskKind] = &[TaskKind::AclCreate];
}

/// `acl.delete`: the ACLs to delete, as a filter (DeleteAcls). A second run
/// finds nothing left to delete and succeeds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AclDeletePayload {
    pub filter: AclFilter,
}

impl Payload for AclDeletePayload {
    const KINDS: &'static [TaskKind] = &[TaskKind::AclDelete];
}

/// One partition's new replica list, its preferred leader first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaTarget {
    pub topic: String,
    pub partition: i32,
    pub replicas: Vec<i32>,
}

/// `partition.reassign`: partitions to move, and the most bytes per second
/// each involved broker may spend copying them (none: unthrottled).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionReassignPayload {
    pub targets: Vec<ReplicaTarget>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttle_bytes_per_second: Option<u64>,
}

impl Payload for PartitionReassignPayload {
    const KINDS: &'static [TaskKind] = &[TaskKind::PartitionReassign];
}

/// `broker.remove`: the broker to empty; the moves are planned when the
/// task runs, from the cluster as it is then.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerRemovePayload {
    pub broker_id: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttle_bytes_per_second: Option<u64>,
}

impl Payload for BrokerRemovePayload {
    const KINDS: &'static [TaskKind] = &[TaskKind::BrokerRemove];
}

/// A resource whose configs can be read and changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConfigResource {
    Topic(String),
    Broker(i32),
    /// The cluster-wide default of every broker (Kafka's broker resource
    /// with an empty name), changed through the worker's `kafka::wire`.
    #[serde(rename = "cluster")]
    ClusterDefault,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ConfigOpKind {
    Set,
    /// Reset to the default (remove the override).
    Delete,
}

/// One change of an IncrementalAlterConfigs request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigOp {
    pub name: String,
    /// The value to SET, unless it is sensitive: then it is `sealed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// A sensitive value (a password, a JAAS config), encrypted with the
    /// store's secret key. Only the worker that applies the change opens it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed: Option<String>,
    pub operation: ConfigOpKind,
}

/// What ferry shows in place of a sensitive value.
pub const MASK: &str = "******";

impl ConfigOp {
    /// The change as callers may see it: a sealed value is shown as
    /// [`MASK`].
    pub fn shown(&self) -> ConfigOp {
        ConfigOp {
            value: match &self.sealed {
                Some(_) => Some(MASK.to_owned()),
                None => self.value.clone(),
            },
            sealed: None,
            ..self.clone()
        }
    }
}

impl ConfigChange {
    /// The change as callers may see it (see [`ConfigOp::shown`]).
    pub fn shown(&self) -> ConfigChange {
        ConfigChange {
            resource: self.resource.clone(),
            ops: self.ops.iter().map(ConfigOp::shown).collect(),
        }
    }
}

/// `topic.config` and `broker.config`: a batch of SET/DELETE changes to one
/// resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigChange {
    pub resource: ConfigResource,
    pub ops: Vec<ConfigOp>,
}

impl Payload for ConfigChange {
    const KINDS: &'static [TaskKind] = &[TaskKind::TopicConfigAlter, TaskKind::BrokerConfigAlter];
}

/// `changefeed.create`, `.pause`, `.resume` and `.delete`: the changefeed is
/// the task's subject; nothing else is needed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangefeedOperation {}

impl Payload for ChangefeedOperation {
    const KINDS: &'static [TaskKind] = &[
        TaskKind::ChangefeedCreate,
        TaskKind::ChangefeedPause,
        TaskKind::ChangefeedResume,
        TaskKind::ChangefeedDelete,
    ];
}

/// `changeset.apply` and `changeset.drift`: the changeset is the task's
/// subject too; the row holds the plan and the steps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangesetPayload {
    pub changeset_id: String,
}

impl Payload for ChangesetPayload {
    const KINDS: &'static [TaskKind] = &[TaskKind::ChangesetApply, TaskKind::ChangesetDrift];
}

/// Engine options kept with a changefeed (`changefeeds.options`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ChangefeedOptions {
    pub worker_count: usize,
    pub max_txn_row: usize,
    /// Replicate tables without a usable key anyway (at-least-once duplicates
    /// are then possible downstream).
    pub force: bool,
}

/// `changefeed.update`: a validated change.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ChangefeedPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downstream_type: Option<DownstreamType>,
    /// Downstream settings without the password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downstream: Option<Value>,
    /// The new password, encrypted; `Some("")` never occurs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downstream_secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<ChangefeedOptions>,
}

impl Payload for ChangefeedPatch {
    const KINDS: &'static [TaskKind] = &[TaskKind::ChangefeedUpdate];
}

/// A position in the upstream binlog such that every change before it has
/// been committed downstream (`changefeeds.checkpoint`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Checkpoint {
    pub file: String,
    pub position: u64,
    /// MariaDB GTID position (`domain-server-seq[,...]`) when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gtid: Option<String>,
    /// TiDB TSO of the last committed upstream transaction.
    pub tso: u64,
}
