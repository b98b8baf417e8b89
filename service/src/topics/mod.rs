//! Topic tasks: validating a request to create topics and recording one
//! `topic.create` task per topic, refusing the whole request when any of the
//! topics already has a task in progress on that cluster.

pub mod admin;
pub mod notes;
pub mod overview;

use std::collections::{BTreeMap, HashSet};

use ferry_entity::{ClusterId, ClusterKind, TaskKind, task};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};

pub use ferry_entity::payload::{TopicCreatePayload, TopicSpec};

use crate::{
    clusters,
    error::ServiceError,
    kafka::{
        INSPECT_TIMEOUT, KafkaClients, admin as kafka_admin, metadata, placement, topic_config,
    },
    store::Store,
    tasks::{self, NewTask, Requester, Task, submit::Submission},
};

/// Most topics one request may create.
pub const MAX_TOPICS_PER_REQUEST: usize = 1000;
/// Most partitions of one topic ferry creates.
pub const MAX_PARTITIONS: i32 = 10_000;
/// Highest replication factor ferry asks for (Kafka caps it by the brokers).
pub const MAX_REPLICATION_FACTOR: i32 = 32;

/// Most topics of one request run as one job (one claim, one CreateTopics,
/// one transaction of outcomes); larger requests become several jobs.
pub const SUBMIT_BATCH: usize = 100;

/// The named lock under which a cluster's topic tasks are checked and
/// recorded: at most one create or delete per topic is in progress.
pub fn lock_name(cluster_id: ClusterId) -> String {
    format!("topic-submit:{cluster_id}")
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

/// Validates and records the tasks; returns them in request order. Nothing is
/// written when any topic is invalid or already in progress (a
/// [`ErrorKind::Busy`](crate::error::ErrorKind::Busy) error listing them).
pub async fn submit(
    store: &Store,
    kafka: &KafkaClients,
    cluster_id: ClusterId,
    specs: Vec<TopicSpec>,
    who: &Requester,
) -> Result<Vec<Task>, ServiceError> {
    let cluster = clusters::get(store, cluster_id).await?;
    if cluster.kind != ClusterKind::Kafka {
        return Err(ServiceError::invalid(format!(
            "cluster {cluster_id} is not a kafka cluster"
        )));
    }
    if specs.is_empty() {
        return Err(ServiceError::invalid(
            "addTopicTasks must name at least one topic",
        ));
    }
    if specs.len() > MAX_TOPICS_PER_REQUEST {
        return Err(ServiceError::invalid(format!(
            "addTopicTasks names {} topics, more than the {MAX_TOPICS_PER_REQUEST} one request may create",
            specs.len()
        )));
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
        live_brokers(store, kafka, cluster_id, with_racks).await
    } else {
        None
    };
    for spec in &specs {
        validate_spec(spec, live.as_ref()).map_err(ServiceError::invalid)?;
    }

    // The check, the task rows and the jobs share one transaction: the
    // request is accepted and queued at one commit, or leaves nothing.
    let submission = Submission::begin(store).await?;
    submission.lock(&lock_name(cluster_id)).await?;
    let names: Vec<String> = specs.iter().map(|s| s.topic_name.clone()).collect();
    let busy: HashSet<String> = task::Entity::find()
        .select_only()
        .column(task::Column::Subject)
        .filter(task::Column::ClusterId.eq(cluster_id))
        .filter(task::Column::Kind.eq(TaskKind::TopicCreate))
        .filter(task::Column::Subject.is_in(names.clone()))
        .filter(tasks::in_progress())
        .into_tuple::<String>()
        .all(submission.txn())
        .await?
        .into_iter()
        .collect();
    if !busy.is_empty() {
        let in_order: Vec<String> = names.into_iter().filter(|n| busy.contains(n)).collect();
        return Err(ServiceError::busy(
            format!(
                "There are topic tasks [{}] already in adding status",
                in_order.join(", ")
            ),
            in_order,
        ));
    }
    let new_tasks = specs
        .into_iter()
        .map(|spec| {
            let name = spec.topic_name.clone();
            let payload = TopicCreatePayload {
                spec,
                ..Default::default()
            };
            NewTask::new(TaskKind::TopicCreate, &payload, who)
                .on_cluster(cluster_id)
                .about(name)
        })
        .collect();
    let created = submission.record(new_tasks, SUBMIT_BATCH).await?;
    submission.commit().await?;
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
async fn live_brokers(
    store: &Store,
    kafka: &KafkaClients,
    cluster_id: ClusterId,
    with_racks: bool,
) -> Option<LiveBrokers> {
    let cluster = kafka.get(store, cluster_id).await.ok()?;
    let snapshot = metadata::snapshot(&cluster, None, INSPECT_TIMEOUT)
        .await
        .ok()?;
    let racks = if with_racks {
        kafka_admin::broker_racks(&cluster, INSPECT_TIMEOUT)
            .await
            .ok()
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
        && !(1..=MAX_PARTITIONS).contains(&p)
    {
        return Err(format!(
            "topic `{name}`: partitionCount must be between 1 and {MAX_PARTITIONS}, got {p}"
        ));
    }
    if let Some(rf) = spec.replication_factor {
        if !(1..=MAX_REPLICATION_FACTOR).contains(&rf) {
            return Err(format!(
                "topic `{name}`: replicationFactor must be between 1 and {MAX_REPLICATION_FACTOR}, got {rf}"
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
}
