//! `topic.create`: creates one Kafka topic and succeeds once it is writable.
//!
//! Each task is its own apalis job, but the jobs running at the same moment on
//! one worker for one cluster are merged by a per-cluster batcher into a
//! single CreateTopics request (up to `topic_batch_size`), and their
//! writability is awaited with shared Metadata requests. Every task still gets
//! its own outcome. Creation is idempotent: a topic that already exists with
//! the requested partitions and replication factor counts as created, so a
//! re-run after a crash succeeds; one with other settings fails permanently.

use std::sync::Arc;

use serde_json::Value;

use super::{JobContext, JobError};
use crate::{
    kafka::KafkaCluster,
    topics::{TopicSpec, TopicTaskPayload},
};

mod creator;

pub use creator::TopicCreator;

pub async fn run(ctx: JobContext<'_>) -> Result<Value, JobError> {
    let payload: TopicTaskPayload = serde_json::from_value(ctx.task.payload.clone())
        .map_err(|e| JobError::Permanent(format!("invalid topic.create payload: {e}")))?;
    if ctx.task.cluster_id.is_none()
        && let Some(address) = payload.address
    {
        // Brokers outside the registry (a changefeed's downstream by
        // address) get a client of their own and a batch of one: the batcher
        // groups topics by registry id, which such brokers do not have.
        let cluster = KafkaCluster::unregistered(&address.client_config())
            .map(Arc::new)
            .map_err(|e| JobError::Permanent(e.to_string()))?;
        return ctx
            .worker
            .topics
            .create_all(cluster, vec![payload.spec])
            .await
            .pop()
            .unwrap_or_else(|| Err(JobError::Retryable("no answer for the topic".into())));
    }
    let cluster = crate::topic_admin::task_cluster(ctx.store, ctx.task).await?;
    ctx.worker.topics.create(cluster, payload.spec).await
}

/// The topic a task creates.
pub fn spec_of(task: &ferry_entity::task::Model) -> Result<TopicSpec, JobError> {
    serde_json::from_value(task.payload.clone())
        .map_err(|e| JobError::Permanent(format!("invalid topic.create payload: {e}")))
}
