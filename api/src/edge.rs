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
        project_id: identity.project_id().map(str::to_owned),
    }
}

/// Waits up to `api.task_wait_ms` for a task the request started, so that a
/// synchronous-looking dialect (TiEM, Confluent) answers with its outcome.
pub async fn wait_task(state: &AppState, task: Task) -> Result<Waited, ServiceError> {
    let wait = Duration::from_millis(state.settings.api.task_wait_ms);
    tasks::wait(&state.store, task, wait).await
}

/// The largest page number any list accepts: beyond it a page's offset
/// would not fit the databases' 64-bit OFFSET. Declared in the document as
/// `page`'s `maximum` (a literal in each route's `validator`, checked
/// against this by `app::tests`).
pub const MAX_PAGE: u64 = 1_000_000_000;

/// The largest `pageSize` a request may ask for, declared in the document
/// as its `maximum` (like [`MAX_PAGE`]). `api.max_page_size` may lower
/// the page actually answered, never what a request may ask for: a smaller
/// page is answered with the `pageSize` it really has, so that a request
/// the document allows is never refused.
pub const MAX_PAGE_SIZE: u64 = 500;

/// Validates `page` (0 and none are read as 1) and a page size (at most
/// [`MAX_PAGE_SIZE`], answered with at most `max_size` rows); the error
/// names the parameter. The document's validators refuse these before a
/// handler runs; this is the same rule for callers that skip them.
pub fn paging(page: Option<u64>, size: u64, max_size: u64) -> Result<(u64, u64), String> {
    let page = page.unwrap_or(1).max(1);
    if size == 0 || size > MAX_PAGE_SIZE {
        return Err(format!("pageSize must be between 1 and {MAX_PAGE_SIZE}"));
    }
    if page > MAX_PAGE {
        return Err(format!("page must be between 1 and {MAX_PAGE}"));
    }
    Ok((page, size.min(max_size.max(1))))
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
