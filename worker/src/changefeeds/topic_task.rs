//! The topic a Kafka downstream needs, created through a `topic.create` task
//! rather than directly. The task is retried like any topic task, appears in
//! `GET /api/v1/tasks` under the Kafka cluster (when it is a registered one)
//! with the topic as its subject, and carries the name and request id of the
//! caller whose changefeed operation asked for it, which ties it to that
//! call's audit entry.

use std::time::Duration;

use ferry_entity::{TaskKind, TaskStatus, task};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::{
    jobs::JobError,
    queue,
    store::Store,
    tasks::{self, NewTask, Task},
    topics::TopicTaskPayload,
};

/// How long a changefeed operation waits for its topic. It stays inside the
/// changefeed operations' attempt timeout (180 s); past it the operation is
/// retried and finds the same topic task again.
const TOPIC_WAIT: Duration = Duration::from_secs(150);
const POLL: Duration = Duration::from_millis(100);

/// Creates the topic with a `topic.create` task, or joins one already in
/// progress for the same topic on the same brokers, and waits for it.
pub async fn create_and_wait(
    store: &Store,
    origin: &Task,
    cluster_id: Option<i64>,
    payload: TopicTaskPayload,
) -> Result<(), JobError> {
    let topic = payload.spec.topic_name.clone();
    let task = match in_progress(store, cluster_id, &payload).await? {
        Some(task) => task,
        None => submit(store, origin, cluster_id, payload).await?,
    };
    tracing::info!(task = %task.id, topic = %topic, "waiting for the topic task of a changefeed");
    let deadline = tokio::time::Instant::now() + TOPIC_WAIT;
    loop {
        let current = tasks::get(&store.db, &task.id)
            .await
            .map_err(JobError::store)?
            .ok_or_else(|| JobError::Retryable(format!("topic task {} vanished", task.id)))?;
        match current.status {
            TaskStatus::Succeeded => return Ok(()),
            TaskStatus::Failed | TaskStatus::Cancelled => {
                return Err(JobError::Permanent(format!(
                    "task {} could not create topic `{topic}`: {}",
                    current.id,
                    current
                        .last_error
                        .as_deref()
                        .unwrap_or(current.status.as_str())
                )));
            }
            TaskStatus::Pending | TaskStatus::Running => {}
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(JobError::Retryable(format!(
                "topic `{topic}` is still being created by task {} ({})",
                current.id,
                current.last_error.as_deref().unwrap_or("no error yet")
            )));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// An unfinished `topic.create` task for the same topic on the same brokers:
/// one submitted by an earlier attempt of this operation, by another
/// changefeed, or (on a registered cluster) by a topic API call.
async fn in_progress(
    store: &Store,
    cluster_id: Option<i64>,
    payload: &TopicTaskPayload,
) -> Result<Option<Task>, JobError> {
    let mut query = task::Entity::find()
        .filter(task::Column::Kind.eq(TaskKind::TopicCreate.as_str()))
        .filter(task::Column::Subject.eq(payload.spec.topic_name.clone()))
        .filter(
            task::Column::Status
                .is_in([TaskStatus::Pending.as_str(), TaskStatus::Running.as_str()]),
        );
    query = match cluster_id {
        Some(id) => query.filter(task::Column::ClusterId.eq(id.to_string())),
        None => query.filter(task::Column::ClusterId.is_null()),
    };
    let candidates = query.all(&store.db).await.map_err(JobError::store)?;
    Ok(candidates.into_iter().find(|t| {
        cluster_id.is_some()
            || serde_json::from_value::<TopicTaskPayload>(t.payload.clone())
                .is_ok_and(|p| p.address == payload.address)
    }))
}

async fn submit(
    store: &Store,
    origin: &Task,
    cluster_id: Option<i64>,
    payload: TopicTaskPayload,
) -> Result<Task, JobError> {
    let new = NewTask {
        kind: TaskKind::TopicCreate,
        cluster_id: cluster_id.map(|id| id.to_string()),
        subject: Some(payload.spec.topic_name.clone()),
        payload: serde_json::to_value(&payload)
            .map_err(|e| JobError::Permanent(format!("topic task payload: {e}")))?,
        max_attempts: None,
        created_by: origin.created_by.clone(),
        request_id: origin.request_id.clone(),
    };
    queue::submit(store, new)
        .await
        .map_err(|e| JobError::Retryable(e.to_string()))
}
