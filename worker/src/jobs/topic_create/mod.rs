//! `topic.create`: creates one Kafka topic and succeeds once it is writable.
//!
//! The claimed topics of one addTopicTask request run as one job (see
//! `runner/batch.rs`); jobs of one topic linger briefly for company. Either
//! way one loop per cluster and worker (`creator.rs`) creates them in rounds
//! of one CreateTopics request per `topic_batch_size` new topics and one
//! Metadata request, which settles the topics waiting to become writable
//! (see there for the order of the two). Every task still gets its own
//! outcome. Creation is idempotent: a topic that already exists with
//! the requested partitions and replication factor counts as created, so a
//! re-run after a crash succeeds; one with other settings fails permanently.

use std::sync::Arc;

use serde_json::Value;

use super::{JobContext, JobError};
use ferry_entity::payload::{TopicCreatePayload, TopicSpec};
use ferry_service::kafka::{self, KafkaCluster};

mod creator;
mod plan;

pub use creator::TopicCreator;

pub async fn run(ctx: JobContext<'_>) -> Result<Value, JobError> {
    let payload: TopicCreatePayload = ctx.task.payload().map_err(JobError::payload)?;
    if ctx.task.cluster_id.is_none()
        && let Some(address) = payload.address
    {
        // Brokers outside the registry (a changefeed's downstream by
        // address) get a client of their own and a batch of one: the batcher
        // groups topics by registry id, which such brokers do not have.
        let cluster = KafkaCluster::unregistered(&kafka::address_config(&address))
            .map(Arc::new)
            .map_err(|e| JobError::Permanent(e.to_string()))?;
        return ctx
            .resources
            .topics
            .create_unregistered(cluster, vec![payload.spec])
            .await
            .pop()
            .unwrap_or_else(|| Err(JobError::Retryable("no answer for the topic".into())));
    }
    let cluster = super::task_cluster(&ctx).await?;
    ctx.resources.topics.create(cluster, payload.spec).await
}

/// The topic a task creates.
pub fn spec_of(task: &ferry_entity::task::Model) -> Result<TopicSpec, JobError> {
    task.payload::<TopicCreatePayload>()
        .map(|p| p.spec)
        .map_err(JobError::payload)
}
