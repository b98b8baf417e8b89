//! Topic tasks: validating a request to create topics and recording one
//! `topic.create` task per topic, refusing the whole request when any of the
//! topics already has a task in progress on that cluster.

use std::collections::{BTreeMap, HashSet};

use ferry_entity::{TaskKind, TaskStatus, task};
use sea_orm::{
    ColumnTrait, DbErr, EntityTrait, QueryFilter, QuerySelect, QueryTrait, TryIntoModel,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::{
    clusters::{self, ClusterError},
    jobs,
    kafka::{INSPECT_TIMEOUT, KafkaAddress, admin, metadata, placement, topic_config},
    queue::{QueueTx, SubmitError},
    store::Store,
    tasks::{self, NewTask, Task},
};

/// Most topics of one request run as one job (one claim, one CreateTopics,
/// one transaction of outcomes); larger requests become several jobs.
pub const SUBMIT_BATCH: usize = 100;

/// What one `topic.create` task creates; stored as the task's payload.
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

/// A `topic.create` task's payload: the topic, and where its brokers are when
/// they are not a registered cluster (a changefeed's downstream by address).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TopicTaskPayload {
    #[serde(flatten)]
    pub spec: TopicSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<KafkaAddress>,
    /// The changefeed that asked for the topic, for the record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changefeed_id: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum TopicSubmitError {
    #[error("{0}")]
    Invalid(String),
    #[error("no such cluster")]
    NoSuchCluster,
    /// Topics that already have a pending or running task, in request order.
    #[error("There are topic tasks [{}] already in adding status", .0.join(", "))]
    InProgress(Vec<String>),
    #[error("metadata store error: {0}")]
    Store(#[from] SubmitError),
}

impl From<DbErr> for TopicSubmitError {
    fn from(err: DbErr) -> Self {
        Self::Store(SubmitError::Record(err))
    }
}

impl From<ClusterError> for TopicSubmitError {
    fn from(err: ClusterError) -> Self {
        match err {
            ClusterError::NotFound => Self::NoSuchCluster,
            ClusterError::Store(e) => e.into(),
            other => Self::Invalid(other.to_string()),
        }
    }
}

/// Kafka's topic name rules: 1-249 characters of `[a-zA-Z0-9._-]`, not `.`
/// or `..`.
pub fn validate_topic_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("topicName is required".into());
    }
    if name.len() > 249 {
        return Err(format!("topic name `{name}` is longer than 249 characters"));
    }
    if name == "." || name == ".." {
        return Err(format!("topic name `{name}` is not allowed"));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(format!(
            "topic name `{name}` contains `{bad}`; only letters, digits, `.`, `_` and `-` are allowed"
        ));
    }
    Ok(())
}

/// Task rows per INSERT statement (17 columns: 3,400 bound values).
const INSERT_ROWS: usize = 200;

/// Validates and records the tasks; returns them in request order. Nothing is
/// written when any topic is invalid or already in progress.
pub async fn submit(
    store: &Store,
    cluster_id: i64,
    specs: Vec<TopicSpec>,
    created_by: &str,
    request_id: Option<String>,
) -> Result<Vec<Task>, TopicSubmitError> {
    let cluster = clusters::get(store, cluster_id).await?;
    if cluster.kind != ferry_entity::ClusterKind::Kafka {
        return Err(TopicSubmitError::Invalid(format!(
            "cluster {cluster_id} is not a kafka cluster"
        )));
    }
    if specs.is_empty() {
        return Err(TopicSubmitError::Invalid(
            "addTopicTasks must name at least one topic".into(),
        ));
    }
    // A name given twice in one request counts once.
    let mut seen = HashSet::new();
    let specs: Vec<TopicSpec> = specs
        .into_iter()
        .filter(|s| seen.insert(s.topic_name.clone()))
        .collect();
    // The brokers are only asked about when a topic sets what they bound (a
    // replication factor, a rack): the request answers sooner without the
    // round trip, which on a busy cluster waits behind the worker's
    // CreateTopics calls on the same connection.
    let with_racks = specs.iter().any(|s| s.region.is_some());
    let live = if with_racks || specs.iter().any(|s| s.replication_factor.is_some()) {
        live_brokers(store, cluster_id, with_racks).await
    } else {
        None
    };
    for spec in &specs {
        validate_spec(spec, live.as_ref()).map_err(TopicSubmitError::Invalid)?;
    }

    // The check, the task rows and the jobs share one transaction: the
    // request is accepted and queued at one commit, or leaves nothing.
    let mut tx = QueueTx::begin(store).await?;
    tx.lock(&format!("topic-submit:{cluster_id}")).await?;
    let names: Vec<String> = specs.iter().map(|s| s.topic_name.clone()).collect();
    let busy_query = task::Entity::find()
        .select_only()
        .column(task::Column::Subject)
        .filter(task::Column::ClusterId.eq(cluster_id.to_string()))
        .filter(task::Column::Kind.eq(TaskKind::TopicCreate.as_str()))
        .filter(task::Column::Subject.is_in(names.clone()))
        .filter(
            task::Column::Status
                .is_in([TaskStatus::Pending.as_str(), TaskStatus::Running.as_str()]),
        )
        .into_query();
    let busy: HashSet<String> = tx.strings(&busy_query).await?.into_iter().collect();
    if !busy.is_empty() {
        let in_order = names.into_iter().filter(|n| busy.contains(n)).collect();
        return Err(TopicSubmitError::InProgress(in_order));
    }
    let policy = jobs::policy(TaskKind::TopicCreate);
    let rows: Vec<task::ActiveModel> = specs
        .iter()
        .map(|spec| {
            let new = NewTask {
                kind: TaskKind::TopicCreate,
                cluster_id: Some(cluster_id.to_string()),
                subject: Some(spec.topic_name.clone()),
                payload: json!(spec),
                max_attempts: None,
                created_by: created_by.to_owned(),
                request_id: request_id.clone(),
            };
            tasks::new_model(&new, policy.max_attempts)
        })
        .collect();
    let created = rows
        .iter()
        .map(|row| row.clone().try_into_model())
        .collect::<Result<Vec<Task>, DbErr>>()?;
    // Multi-row INSERTs: one statement per `INSERT_ROWS` tasks instead of one
    // per task, well under SQLite's and PostgreSQL's limits on bound values.
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk = rows.by_ref().take(INSERT_ROWS);
        tx.insert(&task::Entity::insert_many(chunk).into_query())
            .await?;
    }
    tx.push_batches(&created, SUBMIT_BATCH).await?;
    tx.commit().await?;
    Ok(created)
}

/// The brokers a cluster reports now, and their racks when asked for.
#[derive(Debug, Default)]
struct LiveBrokers {
    count: usize,
    /// Each broker's rack; `None` when not asked for or not answered.
    racks: Option<BTreeMap<i32, Option<String>>>,
}

/// What the cluster says about its brokers, or `None` when it does not
/// answer in time (the worker then checks the request against the brokers
/// itself).
async fn live_brokers(store: &Store, cluster_id: i64, with_racks: bool) -> Option<LiveBrokers> {
    let cluster = store.kafka.get(store, cluster_id).await.ok()?;
    let snapshot = metadata::snapshot(&cluster, None, INSPECT_TIMEOUT)
        .await
        .ok()?;
    let racks = if with_racks {
        admin::broker_racks(&cluster, INSPECT_TIMEOUT).await.ok()
    } else {
        None
    };
    Some(LiveBrokers {
        count: snapshot.broker_ids.len(),
        racks,
    })
}

fn validate_spec(spec: &TopicSpec, live: Option<&LiveBrokers>) -> Result<(), String> {
    validate_topic_name(&spec.topic_name)?;
    let name = &spec.topic_name;
    if let Some(p) = spec.partition_count
        && p < 1
    {
        return Err(format!(
            "topic `{name}`: partitionCount must be at least 1, got {p}"
        ));
    }
    if let Some(rf) = spec.replication_factor {
        if rf < 1 {
            return Err(format!(
                "topic `{name}`: replicationFactor must be at least 1, got {rf}"
            ));
        }
        if let Some(brokers) = live.map(|l| l.count)
            && rf as usize > brokers
        {
            return Err(format!(
                "topic `{name}`: replicationFactor {rf} exceeds the cluster's {brokers} broker(s)"
            ));
        }
    }
    topic_config::validate(&spec.configs).map_err(|e| format!("topic `{name}`: {e}"))?;
    if let Some(region) = &spec.region {
        if region.trim().is_empty() {
            return Err(format!("topic `{name}`: region must name a rack"));
        }
        // Racks are checked here when the cluster answered; otherwise the
        // worker checks them before creating the topic.
        if let Some(racks) = live.and_then(|l| l.racks.as_ref()) {
            let brokers = placement::brokers_in_rack(racks, region)
                .map_err(|e| format!("topic `{name}`: {e}"))?;
            if let Some(rf) = spec.replication_factor
                && rf as usize > brokers.len()
            {
                return Err(format!(
                    "topic `{name}`: replicationFactor {rf} exceeds the {} broker(s) of rack `{region}`",
                    brokers.len()
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_follow_kafka_rules() {
        assert!(validate_topic_name("orders.v1_x-y").is_ok());
        assert!(validate_topic_name("").is_err());
        assert!(validate_topic_name(".").is_err());
        assert!(validate_topic_name("..").is_err());
        assert!(validate_topic_name("a b").unwrap_err().contains("` `"));
        assert!(validate_topic_name(&"x".repeat(250)).is_err());
        assert!(validate_topic_name(&"x".repeat(249)).is_ok());
    }

    #[test]
    fn in_progress_message_matches_tubemq() {
        let err = TopicSubmitError::InProgress(vec!["a".into(), "b".into()]);
        assert_eq!(
            err.to_string(),
            "There are topic tasks [a, b] already in adding status"
        );
    }
}
