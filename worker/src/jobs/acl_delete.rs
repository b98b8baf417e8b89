//! `acl.delete`: one DeleteAcls request with the task's filter; the result
//! lists the ACLs the broker deleted. A second run of an attempt that got
//! through finds nothing left to delete and succeeds with an empty list,
//! so the end state is the same.

use std::time::Duration;

use ferry_entity::{acl::AclsDeleted, payload::AclDeletePayload};
use serde_json::Value;

use super::{JobContext, JobError};
use crate::kafka::acls;

const DELETE_TIMEOUT: Duration = Duration::from_secs(30);

pub async fn run(ctx: JobContext<'_>) -> Result<Value, JobError> {
    let AclDeletePayload { filter } = ctx.task.payload().map_err(JobError::payload)?;
    let cluster = super::task_cluster(&ctx).await?;
    let deleted = acls::delete_acls(&cluster, filter, DELETE_TIMEOUT)
        .await
        .map_err(|err| super::admin_error(format!("deleting ACLs failed: {err}"), &err))?;
    serde_json::to_value(AclsDeleted { deleted })
        .map_err(|e| JobError::Permanent(format!("the deleted ACLs do not serialise: {e}")))
}
