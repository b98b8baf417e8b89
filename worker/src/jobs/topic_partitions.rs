//! `topic.partitions`: raises a Kafka topic's partition count
//! (CreatePartitions) and succeeds once the metadata shows the new count.
//! Idempotent: a topic that already has at least that many partitions (an
//! earlier attempt got through) counts as done; Kafka cannot lower a count,
//! and the API refuses a decrease before a task is recorded.

use std::time::Duration;

use ferry_entity::payload::TopicPartitionsPayload;
use rdkafka::admin::{AdminOptions, NewPartitions};
use serde_json::{Value, json};

use super::{JobContext, JobError};
use ferry_service::kafka::{self, INSPECT_TIMEOUT, metadata};

/// How long the metadata may lag behind the broker's answer before the
/// attempt is retried.
const SHOWN_TIMEOUT: Duration = Duration::from_secs(30);

pub async fn run(ctx: JobContext<'_>) -> Result<Value, JobError> {
    let TopicPartitionsPayload {
        topic_name: topic,
        partition_count: wanted,
    } = ctx.task.payload().map_err(JobError::payload)?;
    let wanted = usize::try_from(wanted)
        .map_err(|_| JobError::Permanent(format!("partition count {wanted} is not positive")))?;
    let cluster = super::task_cluster(&ctx).await?;
    let current = partition_count(&cluster, &topic).await?;
    if current >= wanted {
        return Ok(json!({ "topic": topic, "partitions": current, "added": 0 }));
    }
    let options = AdminOptions::new()
        .operation_timeout(Some(Duration::from_secs(30)))
        .request_timeout(Some(Duration::from_secs(30)));
    let results = cluster
        .admin()
        .create_partitions(&[NewPartitions::new(&topic, wanted)], &options)
        .await
        .map_err(|err| classify(format!("CreatePartitions failed: {err}"), &err))?;
    match results.into_iter().next() {
        Some(Ok(_)) => {}
        Some(Err((_, code))) => {
            let msg = format!("raising topic {topic} to {wanted} partitions failed: {code}");
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
    }
    // Wait until the metadata agrees, so that a caller who sees the task
    // succeed also sees the new partitions.
    let deadline = tokio::time::Instant::now() + SHOWN_TIMEOUT;
    let mut pause = Duration::from_millis(50);
    loop {
        let now = partition_count(&cluster, &topic).await?;
        if now >= wanted {
            return Ok(json!({ "topic": topic, "partitions": now, "added": now - current }));
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(JobError::Retryable(format!(
                "topic {topic} still shows {now} partitions {SHOWN_TIMEOUT:?} after adding them"
            )));
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(500));
    }
}

/// The topic's partition count now; a topic that is gone fails the task.
async fn partition_count(
    cluster: &std::sync::Arc<kafka::KafkaCluster>,
    topic: &str,
) -> Result<usize, JobError> {
    let snapshot = metadata::snapshot(cluster, Some(topic), INSPECT_TIMEOUT)
        .await
        .map_err(|e| JobError::Retryable(format!("reading the metadata of {topic}: {e}")))?;
    snapshot
        .topic(topic)
        .map(|t| t.partitions)
        .ok_or_else(|| JobError::Permanent(format!("topic {topic} does not exist")))
}

fn classify(msg: String, err: &rdkafka::error::KafkaError) -> JobError {
    if kafka::is_transient(err) {
        JobError::Retryable(msg)
    } else {
        JobError::Permanent(msg)
    }
}
