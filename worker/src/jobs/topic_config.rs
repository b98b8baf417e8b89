//! `topic.config` and `broker.config`: one IncrementalAlterConfigs request
//! that sets or resets (DELETE) configs of a topic or a broker. Each change is
//! idempotent, so re-running an attempt after a crash ends in the same state.
//!
//! IncrementalAlterConfigs rather than the legacy AlterConfigs: the legacy
//! call replaces the whole config set (resetting everything not named, racing
//! with other writers), and tansu 0.6 implements only the incremental one.

use std::time::Duration;

use rdkafka::error::RDKafkaErrorCode;
use serde_json::{Value, json};

use super::{JobContext, JobError};
use ferry_entity::payload::{ConfigChange, ConfigResource};
use secrecy::ExposeSecret;

use crate::kafka::{self, AlterError};

const ALTER_TIMEOUT: Duration = Duration::from_secs(30);

pub async fn run(ctx: JobContext<'_>) -> Result<Value, JobError> {
    let change: ConfigChange = ctx.task.payload().map_err(JobError::payload)?;
    if change.ops.is_empty() {
        return Err(JobError::Permanent("no config changes to apply".into()));
    }
    let cluster = super::task_cluster(&ctx).await?;
    // Sealed values are opened here, for the request only.
    let mut ops = change.ops.clone();
    for op in &mut ops {
        if let Some(sealed) = op.sealed.take() {
            let value = ctx
                .store
                .secrets
                .decrypt(&sealed)
                .map_err(|e| JobError::Permanent(format!("config `{}`: {e}", op.name)))?;
            op.value = Some(value.expose_secret().to_owned());
        }
    }
    kafka::alter_configs(
        ctx.store,
        &cluster,
        change.resource.clone(),
        ops,
        ALTER_TIMEOUT,
    )
    .await
    .map_err(|err| classify(&change.resource, err))?;
    let shown = change.shown();
    Ok(json!({ "resource": shown.resource, "applied": shown.ops }))
}

fn classify(resource: &ConfigResource, err: AlterError) -> JobError {
    let target = match resource {
        ConfigResource::Topic(name) => format!("topic {name}"),
        ConfigResource::Broker(id) => format!("broker {id}"),
        ConfigResource::ClusterDefault => "the cluster-wide broker defaults".to_owned(),
    };
    // A missing topic is transient while one is being created, but a config
    // change is only accepted for a topic that exists: it was deleted since.
    if err.code() == Some(RDKafkaErrorCode::UnknownTopicOrPartition) {
        return JobError::Permanent(format!("{target} does not exist"));
    }
    let msg = format!("changing the configs of {target} failed: {err}");
    if err.is_retryable() {
        JobError::Retryable(msg)
    } else {
        JobError::Permanent(msg)
    }
}
