//! The TiEM changefeed dialect: `/api/v1/changefeeds/...`, answering
//! `{code, data, message}` (and `page` on lists). Codes: 0 success, 21201 not
//! found (HTTP 404), 21203 status conflict (HTTP 409); other failures carry
//! their HTTP status as the code (400 with a message naming the field, 401,
//! 403, 503).

use ferry_service::{
    error::{ErrorKind, ServiceError},
    tasks,
};
use poem_openapi::{ApiResponse, Object, payload::Json};
use serde_json::Value;

use crate::auth::Forbidden;

pub mod changefeeds;
pub mod views;

pub const CODE_NOT_FOUND: i32 = 21201;
pub const CODE_CONFLICT: i32 = 21203;

/// TiEM's `controller.CommonResult`, used for errors.
#[derive(Debug, Object)]
pub struct CommonResult {
    pub code: i32,
    pub data: Value,
    pub message: String,
}

/// Every error of the changefeed routes. Besides what handlers return, it
/// lists what the middleware answers before a handler runs (401, 413, 415, 429,
/// 503, and 400 for a request that does not parse), so that every
/// operation's document declares them: `dialect.rs` renders those in the
/// same shape.
#[derive(Debug, ApiResponse)]
pub enum TiemError {
    /// Invalid request; the message names the field.
    #[oai(status = 400)]
    BadRequest(Json<CommonResult>),
    /// Missing or invalid bearer token.
    #[oai(status = 401)]
    Unauthorized(Json<CommonResult>),
    #[oai(status = 403)]
    Forbidden(Json<CommonResult>),
    /// Code 21201: no such changefeed.
    #[oai(status = 404)]
    NotFound(Json<CommonResult>),
    /// Code 21203: another operation is in flight, or the state forbids it.
    #[oai(status = 409)]
    Conflict(Json<CommonResult>),
    /// The body is larger than `api.max_body_bytes`.
    #[oai(status = 413)]
    PayloadTooLarge(Json<CommonResult>),
    /// The body is not `application/json` (or no `Content-Type` was sent).
    #[oai(status = 415)]
    UnsupportedMediaType(Json<CommonResult>),
    /// The token's rate limit is exceeded; retry after `Retry-After` seconds.
    #[oai(status = 429)]
    TooManyRequests(Json<CommonResult>),
    #[oai(status = 503)]
    Unavailable(Json<CommonResult>),
}

fn common(code: i32, message: impl Into<String>) -> Json<CommonResult> {
    Json(CommonResult {
        code,
        data: Value::Null,
        message: message.into(),
    })
}

impl TiemError {
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::BadRequest(common(400, message))
    }
    pub fn unavailable(err: impl std::fmt::Display) -> Self {
        tracing::error!(error = %err, "changefeed request failed");
        Self::Unavailable(common(503, "the metadata store is unavailable; try again"))
    }
}

impl From<Forbidden> for TiemError {
    fn from(err: Forbidden) -> Self {
        Self::Forbidden(common(403, err.to_string()))
    }
}

impl From<sea_orm::DbErr> for TiemError {
    fn from(err: sea_orm::DbErr) -> Self {
        Self::unavailable(err)
    }
}

/// Every registry error, in one place.
impl From<ServiceError> for TiemError {
    fn from(err: ServiceError) -> Self {
        let message = err.message().to_owned();
        match err.kind() {
            ErrorKind::Invalid => TiemError::invalid(message),
            ErrorKind::NotFound => TiemError::NotFound(common(CODE_NOT_FOUND, message)),
            ErrorKind::Conflict | ErrorKind::Busy => {
                TiemError::Conflict(common(CODE_CONFLICT, message))
            }
            ErrorKind::Forbidden => TiemError::Forbidden(common(403, message)),
            ErrorKind::Unavailable => TiemError::unavailable(err.detail()),
        }
    }
}

/// A failed operation task as the caller sees it.
pub fn task_failure(task: &tasks::Task) -> TiemError {
    let reason = task
        .last_error
        .clone()
        .unwrap_or_else(|| "the operation failed".into());
    TiemError::invalid(reason)
}
