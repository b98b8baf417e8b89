//! `/api/v1/tasks`: list, get, submit a `ping` (or a list of them), cancel.

use std::time::Duration;

use chrono::{DateTime, Utc};
use ferry_entity::{
    ClusterId, Role, TaskKind, TaskStatus,
    payload::{Payload, PingPayload},
};
use ferry_service::{
    clusters,
    error::ErrorKind,
    tasks::{self, Cancellable, NewTask, Task, TaskFilter, submit},
};
use poem::{Request, http::StatusCode};
use poem_openapi::{ApiResponse, Enum, Object, OpenApi, param::Path, param::Query, payload::Json};
use serde_json::Value;

use super::{NativeError, NativeResult, paging};
use crate::{
    api_tags::ApiTags,
    auth::BearerAuth,
    middleware::{audit::AuditNote, request_id::RequestId},
    one_or_many::OneOrMany,
    state::AppState,
};

/// A durable task and where it is in its life cycle.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct TaskView {
    pub id: String,
    pub kind: String,
    #[oai(nullable)]
    pub cluster_id: Option<String>,
    #[oai(nullable)]
    pub subject: Option<String>,
    /// pending, running, succeeded, failed or cancelled.
    pub status: String,
    pub attempts: i32,
    pub max_attempts: i32,
    #[oai(nullable)]
    pub last_error: Option<String>,
    /// Why a failed or cancelled task ended so: permanent (the job said no
    /// attempt can succeed), gave_up (every attempt hit an error that might
    /// have passed), timed_out (the last attempt ran too long), cancelled.
    #[oai(nullable)]
    pub failure: Option<String>,
    pub payload: Value,
    #[oai(nullable)]
    pub result: Option<Value>,
    pub created_by: String,
    /// The project of the token that made it; none for a global token.
    #[oai(nullable)]
    pub project_id: Option<String>,
    #[oai(nullable)]
    pub request_id: Option<String>,
    #[oai(nullable)]
    pub worker: Option<String>,
    pub created_at: DateTime<Utc>,
    #[oai(nullable)]
    pub started_at: Option<DateTime<Utc>>,
    #[oai(nullable)]
    pub finished_at: Option<DateTime<Utc>>,
}

impl From<Task> for TaskView {
    fn from(t: Task) -> Self {
        let payload = tasks::shown_payload(&t);
        Self {
            id: t.id,
            kind: t.kind.as_str().to_owned(),
            cluster_id: t.cluster_id.map(|id| id.to_string()),
            subject: t.subject,
            status: t.status.as_str().to_owned(),
            attempts: t.attempts,
            max_attempts: t.max_attempts,
            last_error: t.last_error,
            failure: t.failure.map(|f| f.as_str().to_owned()),
            payload,
            result: t.result,
            created_by: t.created_by,
            project_id: t.project_id,
            request_id: t.request_id,
            worker: t.worker,
            created_at: t.created_at,
            started_at: t.started_at,
            finished_at: t.finished_at,
        }
    }
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct TaskPage {
    pub data: Vec<TaskView>,
    pub page: u64,
    pub page_size: u64,
    pub total: u64,
}

/// The kinds `POST /api/v1/tasks` submits: only `ping`; other kinds have
/// their own routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum SubmitKind {
    Ping,
}

crate::pattern_string!(
    ClusterIdText,
    r"^([1-9][0-9]{0,17})?$",
    "A registered cluster's id, as text; empty for none."
);

/// Submit a task of a kind that needs no dialect-specific validation.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct SubmitTask {
    /// Only `ping` here; other kinds have their own routes.
    pub kind: SubmitKind,
    /// A registered cluster's id. (Fields of a list's elements avoid
    /// `validator(pattern)`: `pattern_string.rs`.)
    #[oai(nullable)]
    pub cluster_id: Option<ClusterIdText>,
    #[oai(nullable)]
    pub subject: Option<String>,
    #[oai(nullable)]
    pub payload: Option<PingInput>,
    /// Overrides the kind's attempt limit.
    #[oai(nullable, validator(minimum(value = "1"), maximum(value = "10")))]
    pub max_attempts: Option<i32>,
}

/// What each attempt of a `ping` task does.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct PingInput {
    /// Sleep this long in every attempt.
    #[oai(nullable, validator(minimum(value = "0"), maximum(value = "60000")))]
    pub sleep_ms: Option<u64>,
    /// Fail retryably while the attempt number is at most this.
    #[oai(nullable, validator(minimum(value = "0"), maximum(value = "10")))]
    pub fail_times: Option<i32>,
    /// Fail permanently with this message.
    #[oai(nullable)]
    pub fail_permanently: Option<String>,
}

/// One task to submit, or a list of up to 1,000.
pub type SubmitBody = OneOrMany<SubmitTask, MAX_TASKS_PER_CALL>;

/// The submitted task, or the submitted list in request order.
pub type SubmittedBody = OneOrMany<TaskView, MAX_TASKS_PER_CALL>;

#[derive(ApiResponse)]
pub enum Submitted {
    /// Accepted: the task (or every task of the list) is queued.
    #[oai(status = 202)]
    Accepted(Json<SubmittedBody>),
}

pub struct TasksApi;

/// Most attempts a `ping` task may ask for.
const MAX_PING_ATTEMPTS: i32 = 10;
/// Longest sleep a `ping` attempt may ask for.
const MAX_PING_SLEEP_MS: u64 = 60_000;

#[OpenApi(prefix_path = "/api/v1/tasks", tag = "ApiTags::Tasks")]
impl TasksApi {
    /// List tasks, newest first.
    #[oai(path = "/", method = "get")]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        #[oai(validator(minimum(value = "0"), maximum(value = "1000000000")))] page: Query<
            Option<u64>,
        >,
        #[oai(
            name = "pageSize",
            validator(minimum(value = "1"), maximum(value = "500"))
        )]
        page_size: Query<Option<u64>>,
        #[oai(name = "clusterId", validator(pattern = r"^([1-9][0-9]{0,17})?$"))] cluster_id: Query<
            Option<String>,
        >,
        #[oai(validator(
            pattern = r"^(ping|topic\.(create|delete|config|partitions)|broker\.(config|remove)|partition\.reassign|acl\.(create|delete)|changefeed\.(create|pause|resume|update|delete)|changeset\.(apply|drift))?$"
        ))]
        kind: Query<Option<String>>,
        #[oai(validator(pattern = r"^(pending|running|succeeded|failed|cancelled)?$"))]
        status: Query<Option<String>>,
        subject: Query<Option<String>>,
        /// Only tasks created at or after this instant (RFC 3339).
        #[oai(name = "createdSince")]
        created_since: Query<Option<DateTime<Utc>>>,
        /// Only the tasks one call created: the `X-Request-Id` it sent or
        /// was answered with.
        #[oai(name = "requestId", validator(max_length = 64))]
        request_id: Query<Option<String>>,
    ) -> NativeResult<Json<TaskPage>> {
        auth.0.require(Role::Viewer)?;
        let (page, page_size) = paging(page.0, page_size.0, state.settings.api.max_page_size)?;
        let status = match status.0.as_deref() {
            None | Some("") => None,
            Some(s) => Some(TaskStatus::parse(s).ok_or_else(|| {
                NativeError::bad_request(format!(
                    "status `{s}` is not one of pending, running, succeeded, failed, cancelled"
                ))
            })?),
        };
        let cluster_id = match cluster_id.0.as_deref() {
            None | Some("") => None,
            Some(raw) => Some(ClusterId::parse(raw).ok_or_else(|| {
                NativeError::bad_request(format!("clusterId `{raw}` is not a cluster id"))
            })?),
        };
        let kind = match kind.0.as_deref() {
            None | Some("") => None,
            Some(k) => Some(TaskKind::parse(k).ok_or_else(|| {
                NativeError::bad_request(format!("kind `{k}` is not a task kind"))
            })?),
        };
        let filter = TaskFilter {
            cluster_id,
            kind,
            status,
            subject: subject.0.filter(|s| !s.is_empty()),
            project_id: auth.0.project_id().map(str::to_owned),
            created_since: created_since.0,
            request_id: request_id.0.filter(|r| !r.is_empty()),
        };
        let (rows, total) = tasks::list(&state.store.db, &filter, page, page_size).await?;
        Ok(Json(TaskPage {
            data: rows.into_iter().map(Into::into).collect(),
            page,
            page_size,
            total,
        }))
    }

    /// One task. With `waitMs`, the answer waits up to that long for the
    /// task to finish (a long poll): it comes as soon as the task is
    /// finished, or with the task as it is when the wait ends.
    #[oai(path = "/:id", method = "get")]
    async fn get(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
        #[oai(
            name = "waitMs",
            validator(minimum(value = "0"), maximum(value = "60000"))
        )]
        wait_ms: Query<Option<u64>>,
    ) -> NativeResult<Json<TaskView>> {
        auth.0.require(Role::Viewer)?;
        let task = tasks::get(&state.store.db, &id.0)
            .await?
            .filter(|t| auth.0.owns(t.project_id.as_deref()))
            .ok_or_else(|| NativeError::not_found(format!("no task {}", id.0)))?;
        let task = match wait_ms.0.filter(|ms| *ms > 0) {
            Some(ms) => tasks::wait(&state.store, task, Duration::from_millis(ms))
                .await?
                .into_task(),
            None => task,
        };
        Ok(Json(task.into()))
    }

    /// Submit a `ping` task (for smoke tests and benchmarks), or a list of
    /// up to 1,000 of them, accepted together with one audit entry and
    /// answered as a list in the same order.
    #[oai(path = "/", method = "post")]
    async fn submit(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        body: Json<SubmitBody>,
    ) -> NativeResult<Submitted> {
        // `ping` exists for tests and benchmarks; it is not a tool for
        // clients to occupy workers with. A project's ADMINs may ping within
        // their project (the benchmark compares their cost with a global
        // admin's).
        auth.0.require(Role::Admin)?;
        let request_id = req.extensions().get::<RequestId>().map(|r| r.0.clone());
        let note = req.extensions().get::<AuditNote>();
        let mut reached = Vec::new();
        let answer = match body.0 {
            OneOrMany::One(one) => {
                let new = new_task(&state, &auth, &request_id, one, &mut reached).await?;
                // The audit row of an accepted submission commits with the
                // task and its job; a refused one is still recorded by the
                // middleware.
                let audit = note.and_then(|n| n.entry(StatusCode::ACCEPTED));
                let task = submit::submit(&state.store, new, audit).await?;
                OneOrMany::One(task.into())
            }
            OneOrMany::Many(list) => {
                let count = list.len();
                let mut news = Vec::with_capacity(count);
                for (i, one) in list.into_iter().enumerate() {
                    let new = new_task(&state, &auth, &request_id, one, &mut reached)
                        .await
                        .map_err(|e| e.within(&format!("tasks[{i}]")))?;
                    news.push(new);
                }
                if let Some(note) = note {
                    note.set(serde_json::json!({ "kind": "ping", "tasks": count }));
                }
                let audit = note.and_then(|n| n.entry(StatusCode::ACCEPTED));
                let tasks =
                    submit::submit_many(&state.store, news, audit, submit::BULK_JOB_TASKS).await?;
                OneOrMany::Many(tasks.into_iter().map(Into::into).collect())
            }
        };
        if let Some(note) = note {
            note.recorded();
        }
        Ok(Submitted::Accepted(Json(answer)))
    }

    /// Cancel a task. Clients cancel tasks that have not started; global
    /// admins also running ones, which stop at their job's next step
    /// (changefeed operations excepted: they end by themselves). A project's
    /// tokens reach only the project's tasks.
    #[oai(path = "/:id/cancel", method = "post")]
    async fn cancel(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
    ) -> NativeResult<Json<TaskView>> {
        auth.0.require(Role::Client)?;
        let visible = tasks::get(&state.store.db, &id.0)
            .await?
            .is_some_and(|t| auth.0.owns(t.project_id.as_deref()));
        if !visible {
            return Err(NativeError::not_found(format!("no task {}", id.0)));
        }
        let which = if auth.0.is_global() && auth.0.role.allows(Role::Admin) {
            Cancellable::Unfinished
        } else {
            Cancellable::NotStarted
        };
        match tasks::cancel(&state.store.db, &id.0, which).await? {
            None => Err(NativeError::not_found(format!("no task {}", id.0))),
            Some((true, task)) => {
                // A running attempt stops at once, and a caller waiting on
                // the task answers, instead of at their next look.
                state.store.wakeups.tasks_finished(vec![task.id.clone()]);
                Ok(Json(task.into()))
            }
            Some((false, task)) if task.kind.is_changefeed_operation() => {
                Err(NativeError::conflict(format!(
                    "task {} is a changefeed operation, which cannot be cancelled by hand",
                    task.id
                )))
            }
            Some((false, task)) => Err(NativeError::conflict(format!(
                "task {} is {} and can no longer be cancelled{}",
                task.id,
                task.status.as_str(),
                match which {
                    Cancellable::NotStarted if !task.status.is_terminal() =>
                        "; only admins cancel started tasks",
                    _ => "",
                }
            ))),
        }
    }
}

/// Most tasks one `POST /api/v1/tasks` may submit.
const MAX_TASKS_PER_CALL: usize = 1_000;

/// Checks one submitted `ping` and makes its task. `reached` remembers the
/// clusters already looked up for this call.
async fn new_task(
    state: &AppState,
    auth: &BearerAuth,
    request_id: &Option<String>,
    body: SubmitTask,
    reached: &mut Vec<ClusterId>,
) -> NativeResult<NewTask> {
    let kind = match body.kind {
        SubmitKind::Ping => TaskKind::Ping,
    };
    if let Some(n) = body.max_attempts
        && !(1..=MAX_PING_ATTEMPTS).contains(&n)
    {
        return Err(NativeError::bad_request(format!(
            "maxAttempts must be between 1 and {MAX_PING_ATTEMPTS}"
        )));
    }
    let input = body.payload;
    let ping = PingPayload {
        sleep_ms: input.as_ref().and_then(|p| p.sleep_ms).unwrap_or(0),
        fail_times: input.as_ref().and_then(|p| p.fail_times).unwrap_or(0),
        fail_permanently: input.and_then(|p| p.fail_permanently),
    };
    if ping.sleep_ms > MAX_PING_SLEEP_MS {
        return Err(NativeError::bad_request(format!(
            "payload.sleepMs must be at most {MAX_PING_SLEEP_MS}"
        )));
    }
    if !(0..=MAX_PING_ATTEMPTS).contains(&ping.fail_times) {
        return Err(NativeError::bad_request(format!(
            "payload.failTimes must be between 0 and {MAX_PING_ATTEMPTS}"
        )));
    }
    let payload = ping.to_json();
    let cluster_id = match body.cluster_id.as_ref().map(|c| c.0.as_str()) {
        None | Some("") => None,
        Some(raw) => {
            let id = ClusterId::parse(raw).ok_or_else(|| {
                NativeError::bad_request(format!("clusterId `{raw}` is not a cluster id"))
            })?;
            // A cluster the caller cannot reach, or that does not exist, is
            // a resource missing (404), not a malformed body: the document
            // cannot know which ids are registered.
            if !auth.0.reaches_cluster(id) {
                return Err(NativeError::not_found(format!(
                    "clusterId {id}: no such cluster"
                )));
            }
            if !reached.contains(&id) {
                clusters::get(&state.store, id)
                    .await
                    .map_err(|e| match e.kind() {
                        ErrorKind::NotFound => {
                            NativeError::not_found(format!("clusterId {id}: no such cluster"))
                        }
                        _ => e.into(),
                    })?;
                reached.push(id);
            }
            Some(id)
        }
    };
    Ok(NewTask {
        kind,
        cluster_id,
        subject: body.subject,
        payload,
        max_attempts: body.max_attempts,
        created_by: auth.0.name.clone(),
        request_id: request_id.clone(),
        project_id: auth.0.project_id().map(str::to_owned),
    })
}
