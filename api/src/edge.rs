//! What every dialect's handlers share beyond the envelope: who is calling
//! (for task rows), waiting a bounded time for a task, and reading the ids
//! callers send as numbers or strings.

use std::time::Duration;

use ferry_entity::ClusterId;
use ferry_service::{
    error::ServiceError,
    tasks::{self, Requester, Task, Waited},
};
use poem::Request;
use serde_json::Value;

use crate::{auth::Identity, middleware::request_id::RequestId, state::AppState};

/// The caller and the request's id, for the task rows a request records.
pub fn requester(identity: &Identity, req: &Request) -> Requester {
    Requester {
        created_by: identity.name.clone(),
        request_id: req.extensions().get::<RequestId>().map(|r| r.0.clone()),
    }
}

/// Waits up to `api.task_wait_ms` for a task the request started, so that a
/// synchronous-looking dialect (TiEM, Confluent) answers with its outcome.
pub async fn wait_task(state: &AppState, task: Task) -> Result<Waited, ServiceError> {
    let wait = Duration::from_millis(state.settings.api.task_wait_ms);
    tasks::wait(&state.store, task, wait).await
}

/// A cluster id as a dialect sends it in JSON: a positive number or a string
/// holding one. The error names the field.
pub fn cluster_id(field: &str, value: Option<&Value>) -> Result<ClusterId, String> {
    match value {
        None | Some(Value::Null) => Err(format!("{field} is required")),
        Some(v) => ClusterId::from_json(v)
            .ok_or_else(|| format!("{field} must be a positive integer or a string holding one")),
    }
}
