//! `acl.create`: one CreateAcls request for the task's ACL. Kafka treats
//! creating an ACL that exists as a success, so re-running an attempt after
//! a crash ends in the same state.

use std::time::Duration;

use ferry_entity::payload::AclCreatePayload;
use serde_json::{Value, json};

use super::{JobContext, JobError};
use crate::kafka::acls;

const CREATE_TIMEOUT: Duration = Duration::from_secs(30);

pub async fn run(ctx: JobContext<'_>) -> Result<Value, JobError> {
    let AclCreatePayload { acl } = ctx.task.payload().map_err(JobError::payload)?;
    let cluster = super::task_cluster(&ctx).await?;
    acls::create_acl(&cluster, acl.clone(), CREATE_TIMEOUT)
        .await
        .map_err(|err| super::admin_error(format!("creating the ACL failed: {err}"), &err))?;
    Ok(json!({ "created": [acl] }))
}
