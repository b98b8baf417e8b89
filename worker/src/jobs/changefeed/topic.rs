//! The topic a Kafka downstream needs, created through a `topic.create` task
//! rather than directly. The task is retried like any topic task, appears in
//! `GET /api/v1/tasks` under the Kafka cluster (when it is a registered one)
//! with the topic as its subject, and carries the name and request id of the
//! caller whose changefeed operation asked for it, which ties it to that
//! call's audit entry.

use std::{sync::Arc, time::Duration};

use ferry_entity::{
    ClusterId, TaskKind, TaskStatus,
    payload::{TopicCreatePayload, TopicSpec},
    task,
};
use ferry_service::{
    changefeeds::kafka_downstream::{DEFAULT_PARTITIONS, KafkaDownstream, PRECHECK_TIMEOUT},
    error::ErrorKind,
    kafka::{KafkaClients, KafkaCluster, metadata},
    store::Store,
    tasks::{self, NewTask, Requester, Task, Waited, submit},
};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::jobs::JobError;

/// How long a changefeed operation waits for its topic. It stays inside the
/// changefeed operations' attempt timeout (180 s); past it the operation is
/// retried and finds the same topic task again.
const TOPIC_WAIT: Duration = Duration::from_secs(150);

/// Verifies the broker answers and the topic is usable. A missing topic
/// is created through a `topic.create` task on behalf of `origin` (the
/// changefeed operation asking for it), so that it is retried like any
/// topic task and listed with the caller's name and request id. Returns
/// whether the topic was created.
pub async fn prepare(
    store: &Store,
    kafka: &KafkaClients,
    downstream: &KafkaDownstream,
    changefeed_id: &str,
    origin: &Task,
) -> Result<bool, JobError> {
    let cluster = admin_client(store, kafka, downstream).await?;
    let snapshot = metadata::snapshot(&cluster, None, PRECHECK_TIMEOUT)
        .await
        .map_err(|e| {
            JobError::Permanent(format!(
                "downstream: cannot reach the Kafka brokers at {}: {e}",
                downstream.describe_brokers()
            ))
        })?;
    let brokers = snapshot.broker_ids.len() as i32;
    if let Some(rf) = downstream.replication_factor
        && rf > brokers
    {
        return Err(JobError::Permanent(format!(
            "downstream.replicationFactor {rf} is more than the {brokers} brokers of the Kafka downstream"
        )));
    }
    if let Some(topic) = snapshot.topic(&downstream.topic) {
        let wanted = downstream.partitions.unwrap_or(1) as usize;
        if topic.partitions < wanted {
            return Err(JobError::Permanent(format!(
                "downstream: topic `{}` has {} partitions, fewer than the {wanted} asked in downstream.partitions",
                downstream.topic, topic.partitions
            )));
        }
        return Ok(false);
    }
    let payload = TopicCreatePayload {
        spec: TopicSpec {
            topic_name: downstream.topic.clone(),
            partition_count: Some(downstream.partitions.unwrap_or(DEFAULT_PARTITIONS)),
            replication_factor: Some(
                downstream
                    .replication_factor
                    .unwrap_or_else(|| brokers.clamp(1, 3)),
            ),
            ..Default::default()
        },
        address: downstream.address(),
        changefeed_id: Some(changefeed_id.to_owned()),
    };
    create_and_wait(store, origin, downstream.target_cluster_id, payload)
        .await
        .map(|_| true)
        .map_err(|e| e.map_message(|m| format!("downstream: {m}")))
}

async fn admin_client(
    store: &Store,
    kafka: &KafkaClients,
    downstream: &KafkaDownstream,
) -> Result<Arc<KafkaCluster>, JobError> {
    match downstream.target_cluster_id {
        Some(id) => kafka.get(store, id).await.map_err(|e| match e.kind() {
            ErrorKind::Unavailable => e.into(),
            _ => JobError::Permanent(format!("downstream cluster {id}: {e}")),
        }),
        None => {
            let config = downstream
                .client_config(store)
                .await
                .map_err(JobError::Permanent)?;
            KafkaCluster::unregistered(&config)
                .map(Arc::new)
                .map_err(|e| JobError::Permanent(format!("downstream: {e}")))
        }
    }
}

/// Creates the topic with a `topic.create` task, or joins one already in
/// progress for the same topic on the same brokers, and waits for it.
pub async fn create_and_wait(
    store: &Store,
    origin: &Task,
    cluster_id: Option<ClusterId>,
    payload: TopicCreatePayload,
) -> Result<(), JobError> {
    let topic = payload.spec.topic_name.clone();
    let task = match in_progress(store, cluster_id, &payload).await? {
        Some(task) => task,
        None => record(store, origin, cluster_id, payload).await?,
    };
    tracing::info!(task = %task.id, topic = %topic, "waiting for the topic task of a changefeed");
    match tasks::wait(store, task, TOPIC_WAIT).await? {
        Waited::Finished(t) if t.status == TaskStatus::Succeeded => Ok(()),
        Waited::Finished(t) => Err(JobError::Permanent(format!(
            "task {} could not create topic `{topic}`: {}",
            t.id,
            t.last_error.as_deref().unwrap_or(t.status.as_str())
        ))),
        Waited::Running(t) => Err(JobError::Retryable(format!(
            "topic `{topic}` is still being created by task {} ({})",
            t.id,
            t.last_error.as_deref().unwrap_or("no error yet")
        ))),
    }
}

/// An unfinished `topic.create` task for the same topic on the same brokers:
/// one submitted by an earlier attempt of this operation, by another
/// changefeed, or (on a registered cluster) by a topic API call.
async fn in_progress(
    store: &Store,
    cluster_id: Option<ClusterId>,
    payload: &TopicCreatePayload,
) -> Result<Option<Task>, JobError> {
    let mut query = task::Entity::find()
        .filter(task::Column::Kind.eq(TaskKind::TopicCreate))
        .filter(task::Column::Subject.eq(payload.spec.topic_name.clone()))
        .filter(tasks::in_progress());
    query = match cluster_id {
        Some(id) => query.filter(task::Column::ClusterId.eq(id)),
        None => query.filter(task::Column::ClusterId.is_null()),
    };
    let candidates = query.all(&store.db).await?;
    Ok(candidates.into_iter().find(|t| {
        cluster_id.is_some()
            || t.payload::<TopicCreatePayload>()
                .is_ok_and(|p| p.address == payload.address)
    }))
}

async fn record(
    store: &Store,
    origin: &Task,
    cluster_id: Option<ClusterId>,
    payload: TopicCreatePayload,
) -> Result<Task, JobError> {
    let who = Requester {
        created_by: origin.created_by.clone(),
        request_id: origin.request_id.clone(),
        project_id: origin.project_id.clone(),
    };
    let mut new =
        NewTask::new(TaskKind::TopicCreate, &payload, &who).about(payload.spec.topic_name.clone());
    new.cluster_id = cluster_id;
    Ok(submit::submit(store, new, None).await?)
}
