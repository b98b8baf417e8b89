//! Recording the topic and config tasks of the Confluent v3 dialect:
//! `topic.delete` (one topic), `topic.config` and `broker.config` (a batch of
//! SET/DELETE changes to one resource). Topic creation goes through
//! [`super::submit`], like every other dialect's.

use ferry_entity::{
    ClusterId, TaskKind,
    payload::{ConfigChange, ConfigResource, TopicDeletePayload, TopicPartitionsPayload},
    task,
};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::lock_name;
use crate::{
    error::ServiceError,
    kafka,
    store::Store,
    tasks::{
        self, NewTask, Requester, Task,
        submit::{self, Submission},
    },
};

/// Records a `topic.delete` task, refused while a `topic.create` or
/// `topic.delete` of the same topic is in progress. The check and the insert
/// run under the per-cluster lock that topic creation takes too.
pub async fn submit_topic_delete(
    store: &Store,
    cluster_id: ClusterId,
    topic: &str,
    who: &Requester,
) -> Result<Task, ServiceError> {
    let submission = Submission::begin(store).await?;
    submission.lock(&lock_name(cluster_id)).await?;
    refuse_if_busy(
        &submission,
        cluster_id,
        topic,
        &[TaskKind::TopicCreate, TaskKind::TopicDelete],
    )
    .await?;
    let payload = TopicDeletePayload {
        topic_name: topic.to_owned(),
    };
    let new = NewTask::new(TaskKind::TopicDelete, &payload, who)
        .on_cluster(cluster_id)
        .about(topic);
    let mut recorded = submission.record(vec![new], 1).await?;
    submission.commit().await?;
    Ok(recorded.remove(0))
}

/// Records a `topic.partitions` task raising `topic` to `partition_count`
/// partitions, refused while a create, delete or another partition change of
/// the topic is in progress (same lock as creation). The caller has checked
/// that the count grows: Kafka cannot lower it.
pub async fn submit_partition_increase(
    store: &Store,
    cluster_id: ClusterId,
    topic: &str,
    partition_count: i32,
    who: &Requester,
) -> Result<Task, ServiceError> {
    if !(1..=super::MAX_PARTITIONS).contains(&partition_count) {
        return Err(ServiceError::invalid(format!(
            "the partition count must be between 1 and {}, got {partition_count}",
            super::MAX_PARTITIONS
        )));
    }
    let submission = Submission::begin(store).await?;
    submission.lock(&lock_name(cluster_id)).await?;
    refuse_if_busy(
        &submission,
        cluster_id,
        topic,
        &[
            TaskKind::TopicCreate,
            TaskKind::TopicDelete,
            TaskKind::TopicPartitions,
        ],
    )
    .await?;
    let payload = TopicPartitionsPayload {
        topic_name: topic.to_owned(),
        partition_count,
    };
    let new = NewTask::new(TaskKind::TopicPartitions, &payload, who)
        .on_cluster(cluster_id)
        .about(topic);
    let mut recorded = submission.record(vec![new], 1).await?;
    submission.commit().await?;
    Ok(recorded.remove(0))
}

/// Refuses (`Busy`) while a task of one of `kinds` on `topic` is in
/// progress; the caller holds the cluster's topic lock.
async fn refuse_if_busy(
    submission: &Submission<'_>,
    cluster_id: ClusterId,
    topic: &str,
    kinds: &[TaskKind],
) -> Result<(), ServiceError> {
    let busy = task::Entity::find()
        .filter(task::Column::ClusterId.eq(cluster_id))
        .filter(task::Column::Kind.is_in(kinds.iter().copied()))
        .filter(task::Column::Subject.eq(topic))
        .filter(tasks::in_progress())
        .one(submission.txn())
        .await?;
    match busy {
        None => Ok(()),
        Some(busy) => Err(ServiceError::busy(
            format!(
                "a {} task for topic {topic} is already in progress ({})",
                busy.kind.as_str(),
                busy.id
            ),
            vec![topic.to_owned()],
        )),
    }
}

/// Records a `topic.config` or `broker.config` task; sensitive values are
/// sealed (see [`ConfigOp::sealed`](ferry_entity::payload::ConfigOp)). Changes to the same
/// resource need no exclusion: each SET or DELETE is idempotent and the last
/// one applied wins, as with any Kafka admin client.
pub async fn submit_config_change(
    store: &Store,
    cluster_id: ClusterId,
    mut change: ConfigChange,
    marked_sensitive: &[String],
    who: &Requester,
) -> Result<Task, ServiceError> {
    // Sensitive values are stored sealed: a task's payload is shown to every
    // reader of the task list. Sensitive are the configs the broker marks so
    // (`marked_sensitive`) and those named like secrets.
    for op in &mut change.ops {
        if (kafka::is_sensitive_config(&op.name) || marked_sensitive.contains(&op.name))
            && let Some(value) = op.value.take()
        {
            op.sealed = Some(store.secrets.encrypt(&value));
        }
    }
    let (kind, subject) = match &change.resource {
        ConfigResource::Topic(name) => (TaskKind::TopicConfigAlter, name.clone()),
        ConfigResource::Broker(id) => (TaskKind::BrokerConfigAlter, id.to_string()),
        ConfigResource::ClusterDefault => (TaskKind::BrokerConfigAlter, "cluster".to_owned()),
    };
    let new = NewTask::new(kind, &change, who)
        .on_cluster(cluster_id)
        .about(subject);
    submit::submit(store, new, None).await
}
