//! Recording the topic and config tasks of the Confluent v3 dialect:
//! `topic.delete` (one topic), `topic.config` and `broker.config` (a batch of
//! SET/DELETE changes to one resource). Topic creation goes through
//! [`crate::topics::submit`], like every other dialect's.

use std::sync::Arc;

use ferry_entity::{TaskKind, TaskStatus, task};
use sea_orm::{ActiveModelTrait, ColumnTrait, DbErr, EntityTrait, QueryFilter, TransactionTrait};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::{
    clusters,
    jobs::{self, JobError},
    kafka::{
        KafkaAccessError, KafkaCluster,
        admin::{ConfigOp, ConfigResource},
    },
    queue::{self, SubmitError},
    store::Store,
    tasks::{self, NewTask, Task},
};

/// The payload of `topic.config` and `broker.config` tasks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigChange {
    pub resource: ConfigResource,
    pub ops: Vec<ConfigOp>,
}

#[derive(Debug, thiserror::Error)]
pub enum AdminSubmitError {
    /// Another task that creates or deletes the same topic is pending or
    /// running; the caller may retry once it has finished.
    #[error("a {kind} task for topic {topic} is already in progress ({task_id})")]
    InProgress {
        topic: String,
        kind: String,
        task_id: String,
    },
    #[error("cannot record the task: {0}")]
    Store(#[from] DbErr),
    #[error(transparent)]
    Submit(#[from] SubmitError),
}

/// Who asked, for the task row.
#[derive(Debug, Clone)]
pub struct Requester {
    pub created_by: String,
    pub request_id: Option<String>,
}

/// Records a `topic.delete` task, refused while a `topic.create` or
/// `topic.delete` of the same topic is in progress. The check and the insert
/// run under the per-cluster lock that topic creation takes too.
pub async fn submit_topic_delete(
    store: &Store,
    cluster_id: i64,
    topic: &str,
    who: Requester,
) -> Result<Task, AdminSubmitError> {
    let txn = store.db.begin().await?;
    store
        .lock(&txn, &format!("topic-submit:{cluster_id}"))
        .await?;
    let busy = task::Entity::find()
        .filter(task::Column::ClusterId.eq(cluster_id.to_string()))
        .filter(task::Column::Kind.is_in([
            TaskKind::TopicCreate.as_str(),
            TaskKind::TopicDelete.as_str(),
        ]))
        .filter(task::Column::Subject.eq(topic))
        .filter(
            task::Column::Status
                .is_in([TaskStatus::Pending.as_str(), TaskStatus::Running.as_str()]),
        )
        .one(&txn)
        .await?;
    if let Some(busy) = busy {
        return Err(AdminSubmitError::InProgress {
            topic: topic.to_owned(),
            kind: busy.kind,
            task_id: busy.id,
        });
    }
    let new = NewTask {
        kind: TaskKind::TopicDelete,
        cluster_id: Some(cluster_id.to_string()),
        subject: Some(topic.to_owned()),
        payload: json!({ "topicName": topic }),
        max_attempts: None,
        created_by: who.created_by,
        request_id: who.request_id,
    };
    let policy = jobs::policy(TaskKind::TopicDelete);
    let task = tasks::new_model(&new, policy.max_attempts)
        .insert(&txn)
        .await?;
    txn.commit().await?;
    // Recorded means accepted: a failed push is retried by the workers'
    // stale-task sweep.
    if let Err(err) = queue::push(store, &task).await {
        tracing::warn!(error = %err, "enqueueing a topic.delete task failed; the stale-task sweep will retry");
    }
    Ok(task)
}

/// Records a `topic.config` or `broker.config` task. Changes to the same
/// resource need no exclusion: each SET or DELETE is idempotent and the last
/// one applied wins, as with any Kafka admin client.
pub async fn submit_config_change(
    store: &Store,
    cluster_id: i64,
    change: ConfigChange,
    who: Requester,
) -> Result<Task, AdminSubmitError> {
    let (kind, subject) = match &change.resource {
        ConfigResource::Topic(name) => (TaskKind::TopicConfigAlter, name.clone()),
        ConfigResource::Broker(id) => (TaskKind::BrokerConfigAlter, id.to_string()),
        ConfigResource::ClusterDefault => (TaskKind::BrokerConfigAlter, "cluster".to_owned()),
    };
    let new = NewTask {
        kind,
        cluster_id: Some(cluster_id.to_string()),
        subject: Some(subject),
        payload: json!(change),
        max_attempts: None,
        created_by: who.created_by,
        request_id: who.request_id,
    };
    Ok(queue::submit(store, new).await?)
}

/// The client of the cluster a Kafka task belongs to.
pub(crate) async fn task_cluster(
    store: &Store,
    task: &ferry_entity::task::Model,
) -> Result<Arc<KafkaCluster>, JobError> {
    let kind = &task.kind;
    let cluster_id = task
        .cluster_id
        .as_deref()
        .and_then(clusters::parse_id)
        .ok_or_else(|| JobError::Permanent(format!("{kind} task without a cluster")))?;
    store
        .kafka
        .get(store, cluster_id)
        .await
        .map_err(|e| match e {
            KafkaAccessError::NoSuchCluster => {
                JobError::Permanent(format!("cluster {cluster_id} was removed"))
            }
            KafkaAccessError::NotKafka(_) | KafkaAccessError::Client(_) => {
                JobError::Permanent(e.to_string())
            }
            KafkaAccessError::Registry(m) => JobError::Retryable(m),
        })
}
