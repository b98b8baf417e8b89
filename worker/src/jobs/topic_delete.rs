//! `topic.delete`: deletes one Kafka topic and succeeds once the cluster's
//! metadata no longer lists it. Idempotent: a topic that is already gone
//! (deleted by an earlier attempt that crashed, or by someone else) counts as
//! deleted, with `deleted: false` in the result.

use std::time::Duration;

use ferry_entity::payload::TopicDeletePayload;
use rdkafka::{admin::AdminOptions, error::RDKafkaErrorCode};
use serde_json::{Value, json};

use super::{JobContext, JobError};
use ferry_service::kafka::{self, INSPECT_TIMEOUT, metadata};

/// How long the metadata may keep listing a deleted topic before the attempt
/// is retried.
const GONE_TIMEOUT: Duration = Duration::from_secs(30);

pub async fn run(ctx: JobContext<'_>) -> Result<Value, JobError> {
    let TopicDeletePayload { topic_name: topic } = ctx.task.payload().map_err(JobError::payload)?;
    let cluster = super::task_cluster(&ctx).await?;
    let options = AdminOptions::new()
        .operation_timeout(Some(Duration::from_secs(30)))
        .request_timeout(Some(Duration::from_secs(30)));
    let results = cluster
        .admin()
        .delete_topics(&[topic.as_str()], &options)
        .await
        .map_err(|err| {
            let msg = format!("DeleteTopics failed: {err}");
            if kafka::is_transient(&err) {
                JobError::Retryable(msg)
            } else {
                JobError::Permanent(msg)
            }
        })?;
    let deleted = match results.into_iter().next() {
        Some(Ok(_)) => true,
        Some(Err((_, RDKafkaErrorCode::UnknownTopicOrPartition))) => false,
        Some(Err((_, code))) => {
            let msg = format!("deleting topic {topic} failed: {code}");
            return Err(if kafka::is_transient_code(code) {
                JobError::Retryable(msg)
            } else {
                JobError::Permanent(msg)
            });
        }
        None => {
            return Err(JobError::Retryable(format!(
                "the broker did not answer for topic {topic}"
            )));
        }
    };
    // Deletion is asynchronous on Kafka: wait until the metadata agrees, so
    // that a caller who sees the task succeed also sees the topic gone.
    let deadline = tokio::time::Instant::now() + GONE_TIMEOUT;
    let mut pause = Duration::from_millis(50);
    loop {
        if let Ok(snapshot) = metadata::snapshot(&cluster, None, INSPECT_TIMEOUT).await
            && snapshot.topic(&topic).is_none()
        {
            return Ok(json!({ "topic": topic, "deleted": deleted }));
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(JobError::Retryable(format!(
                "topic {topic} is still listed {GONE_TIMEOUT:?} after its deletion"
            )));
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(500));
    }
}
