//! DigitalOcean's Kafka topic API, `/v2/databases/{database_cluster_uuid}/
//! topics[/{topic_name}]`, in DigitalOcean's shapes, so that its official
//! client (`pydo`) works pointed at ferry.
//!
//! `{database_cluster_uuid}` is the `uuid` of a registered Kafka cluster
//! (shown by `/api/v1/clusters`). Errors are `{"id", "message",
//! "request_id"}` with DigitalOcean's ids: `unauthorized` (401),
//! `forbidden` (403), `not_found` (404), `conflict` (409),
//! `unprocessable_entity` (422: the message names the field),
//! `too_many_requests` (429), `server_error` (500) and
//! `service_unavailable` (503: the cluster or the metadata store did not
//! answer; retry).
//!
//! Creating, updating and deleting are tasks. A call waits up to
//! `api.task_wait_ms` for them; a topic whose task is still running then is
//! answered with `state: "configuring"` (or `"deleting"`), as DigitalOcean
//! answers while its own change is applied.

use ferry_entity::{ClusterKind, FailureKind, TaskStatus};
use ferry_service::{
    clusters,
    error::{ErrorKind, ServiceError},
    tasks::{Task, Waited},
};
use poem::Request;
use poem_openapi::{ApiResponse, Object, payload::Json};
use sea_orm::DbErr;
use std::sync::Arc;

use ferry_entity::ClusterId;
use ferry_service::kafka::KafkaCluster;

use crate::{
    auth::{Forbidden, Identity},
    dialect::digitalocean_id,
    middleware::request_id::RequestId,
    state::AppState,
};

pub mod config;
pub mod topics;

/// DigitalOcean's error body.
#[derive(Debug, Object)]
#[oai(rename = "DigitalOceanErrorBody")]
pub struct ErrorBody {
    /// A short identifier of the HTTP status, e.g. `not_found`.
    pub id: String,
    pub message: String,
    /// The request's id, to quote when reporting a problem.
    #[oai(nullable)]
    pub request_id: Option<String>,
}

/// Every error of the DigitalOcean routes. Besides what handlers return, it
/// lists what the middleware answers before a handler runs (400 for a body
/// that does not parse, 401, 413, 415, 429 and 503), so that every
/// operation's document declares them; `dialect.rs` renders those in the
/// same shape.
#[derive(Debug, ApiResponse)]
pub enum DoError {
    /// `bad_request`: the body does not parse as the operation's JSON.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// `unauthorized`: no valid bearer token.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// `request_entity_too_large`: the body is larger than
    /// `api.max_body_bytes`.
    #[oai(status = 413)]
    PayloadTooLarge(Json<ErrorBody>),
    /// `unsupported_media_type`: the body is not `application/json`.
    #[oai(status = 415)]
    UnsupportedMediaType(Json<ErrorBody>),
    /// `too_many_requests`: the token's rate limit; retry after
    /// `Retry-After` seconds.
    #[oai(status = 429)]
    TooManyRequests(Json<ErrorBody>),
    /// The token's role or project may not do this.
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
    /// No such cluster or topic (for this token).
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    /// The topic exists, or another change to it is in progress.
    #[oai(status = 409)]
    Conflict(Json<ErrorBody>),
    /// The request is invalid, or Kafka refused it; the message says why.
    #[oai(status = 422)]
    Unprocessable(Json<ErrorBody>),
    /// The cluster or the metadata store did not answer; retry.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}

fn body(status: u16, message: impl Into<String>) -> Json<ErrorBody> {
    let status = poem::http::StatusCode::from_u16(status)
        .unwrap_or(poem::http::StatusCode::INTERNAL_SERVER_ERROR);
    Json(ErrorBody {
        id: digitalocean_id(status).to_owned(),
        message: message.into(),
        request_id: None,
    })
}

impl DoError {
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::Unprocessable(body(422, message))
    }
    pub fn not_found() -> Self {
        Self::NotFound(body(404, "The resource you requested could not be found."))
    }
    /// A well-formed request that the topic's or cluster's state refuses.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::Conflict(body(409, message))
    }
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::Unavailable(body(503, message))
    }

    /// The same error, carrying the request's id.
    pub fn for_request(mut self, req: &Request) -> Self {
        let id = req.extensions().get::<RequestId>().map(|r| r.0.clone());
        match &mut self {
            Self::BadRequest(b)
            | Self::Unauthorized(b)
            | Self::PayloadTooLarge(b)
            | Self::UnsupportedMediaType(b)
            | Self::TooManyRequests(b)
            | Self::Forbidden(b)
            | Self::NotFound(b)
            | Self::Conflict(b)
            | Self::Unprocessable(b)
            | Self::Unavailable(b) => b.0.request_id = id,
        }
        self
    }
}

impl From<Forbidden> for DoError {
    fn from(err: Forbidden) -> Self {
        Self::Forbidden(body(403, err.to_string()))
    }
}

impl From<DbErr> for DoError {
    fn from(err: DbErr) -> Self {
        tracing::error!(error = %err, "metadata store error");
        Self::unavailable("the metadata store is unavailable; try again")
    }
}

/// Every registry error, in one place.
impl From<ServiceError> for DoError {
    fn from(err: ServiceError) -> Self {
        let message = err.message().to_owned();
        match err.kind() {
            ErrorKind::Invalid => Self::invalid(message),
            ErrorKind::NotFound => Self::NotFound(body(404, message)),
            ErrorKind::Busy | ErrorKind::Conflict => Self::Conflict(body(409, message)),
            ErrorKind::Forbidden => Self::Forbidden(body(403, message)),
            ErrorKind::Unavailable => {
                tracing::error!(error = %err.detail(), "request failed on a dependency");
                Self::unavailable(message)
            }
        }
    }
}

pub type DoResult<T> = Result<T, DoError>;

/// The Kafka cluster a `{database_cluster_uuid}` names, for a caller that
/// reaches it; anything else is `not_found`.
pub struct Database {
    pub cluster_id: ClusterId,
    pub cluster: Arc<KafkaCluster>,
    pub identity: Identity,
}

impl Database {
    pub async fn open(state: &AppState, identity: &Identity, uuid: &str) -> DoResult<Self> {
        let view = clusters::find_by_uuid(&state.store, uuid)
            .await?
            .filter(|v| v.kind == ClusterKind::Kafka && identity.reaches_cluster(v.id))
            .ok_or_else(DoError::not_found)?;
        let cluster = state.kafka.get(&state.store, view.id).await?;
        Ok(Self {
            cluster_id: view.id,
            cluster,
            identity: identity.clone(),
        })
    }

    /// The caller sees the topic (a project under a prefix sees only its
    /// own); anything else does not exist for it.
    pub fn sees(&self, topic: &str) -> bool {
        self.identity.reaches_name(self.cluster_id, topic)
    }
}

/// Waits for a change's task: finished and succeeded, still running, or
/// failed (422 when Kafka refused, 503 when it kept failing transiently).
pub async fn settle(state: &AppState, task: Task) -> DoResult<Option<Task>> {
    match crate::edge::wait_task(state, task).await? {
        Waited::Running(_) => Ok(None),
        Waited::Finished(task) => match task.status {
            TaskStatus::Succeeded => Ok(Some(task)),
            _ => {
                let reason = task.last_error.as_deref().unwrap_or("the change failed");
                let message = format!("{reason} (task {})", task.id);
                Err(if task.failure.is_some_and(FailureKind::is_transient) {
                    DoError::unavailable(message)
                } else {
                    DoError::invalid(message)
                })
            }
        },
    }
}
