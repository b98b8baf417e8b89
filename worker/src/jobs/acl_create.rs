//! `acl.create`: one CreateAcls request for the task's ACL, sent over
//! ferry's own connection (`kafka::wire::acls` says why not librdkafka).
//! Kafka treats creating an ACL that exists as a success, so re-running an
//! attempt after a crash ends in the same state.

use std::time::Duration;

use ferry_entity::payload::AclCreatePayload;
use ferry_service::clusters;
use serde_json::{Value, json};

use super::{JobContext, JobError};
use crate::kafka::wire::{WireTarget, acls};

const CREATE_TIMEOUT: Duration = Duration::from_secs(30);

pub async fn run(ctx: JobContext<'_>) -> Result<Value, JobError> {
    let AclCreatePayload { acl } = ctx.task.payload().map_err(JobError::payload)?;
    let cluster_id = ctx
        .task
        .cluster_id
        .ok_or_else(|| JobError::Permanent("acl.create task without a cluster".into()))?;
    let conn = clusters::connection(ctx.store, cluster_id).await?;
    let target = WireTarget::new(&conn.settings, conn.sasl_password.as_ref());
    acls::create_acl(&target, &acl, CREATE_TIMEOUT)
        .await
        .map_err(|err| {
            let message = format!("creating the ACL failed: {err}");
            if err.is_retryable() {
                JobError::Retryable(message)
            } else {
                JobError::Permanent(message)
            }
        })?;
    Ok(json!({ "created": [acl] }))
}
