//! The TubeMQ Manager dialect: `/v1/cluster`, `/v1/task?method=addTopicTask`,
//! `/v1/topic?method=queryCanWrite`, answering `{errMsg, errCode, result,
//! data}`. Business outcomes are HTTP 200 with `result:false` and TubeMQ's
//! codes (-1 for a general failure, 200 for "already in adding status", 100
//! and 101 for writability); authentication and role failures keep their HTTP
//! status (401, 403) in the same envelope.

use poem_openapi::{ApiResponse, Object, payload::Json};
use serde_json::Value;

use ferry_entity::ClusterId;
use ferry_service::error::{ErrorKind, ServiceError};

use crate::auth::Forbidden;

pub mod cluster;
pub mod task;
pub mod topic;

/// TubeMQ Manager's result envelope.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct TubeResult {
    pub err_msg: String,
    pub err_code: i32,
    pub result: bool,
    pub data: Value,
}

/// Every answer of the TubeMQ routes. Besides what handlers return, it lists
/// what the middleware answers before a handler runs (400 for a request
/// that does not parse, 401, 413, 415, 429, 503), so that every operation's
/// document declares them: `dialect.rs` renders those in the same envelope.
#[derive(Debug, ApiResponse)]
pub enum TubeResponse {
    /// A result: check `result` and `errCode`.
    #[oai(status = 200)]
    Ok(Json<TubeResult>),
    /// The request does not parse (a query parameter or JSON body of the
    /// wrong type).
    #[oai(status = 400)]
    BadRequest(Json<TubeResult>),
    /// Missing or invalid bearer token.
    #[oai(status = 401)]
    Unauthorized(Json<TubeResult>),
    /// The token's role may not do this.
    #[oai(status = 403)]
    Forbidden(Json<TubeResult>),
    /// The body is larger than `api.max_body_bytes`.
    #[oai(status = 413)]
    PayloadTooLarge(Json<TubeResult>),
    /// The body is not `application/json` (or no `Content-Type` was sent).
    #[oai(status = 415)]
    UnsupportedMediaType(Json<TubeResult>),
    /// The token's rate limit is exceeded; retry after `Retry-After` seconds.
    #[oai(status = 429)]
    TooManyRequests(Json<TubeResult>),
    /// The metadata store is unavailable; retry.
    #[oai(status = 503)]
    Unavailable(Json<TubeResult>),
}

/// errCode of a general failure.
pub const ERR_GENERAL: i32 = -1;
/// errCode when topics of the request already have tasks in progress.
pub const ERR_IN_PROGRESS: i32 = 200;

impl TubeResponse {
    pub fn success(data: Value) -> Self {
        Self::Ok(Json(TubeResult {
            err_msg: String::new(),
            err_code: 0,
            result: true,
            data,
        }))
    }

    pub fn failure(code: i32, message: impl Into<String>) -> Self {
        Self::Ok(Json(TubeResult {
            err_msg: message.into(),
            err_code: code,
            result: false,
            data: Value::String(String::new()),
        }))
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::failure(ERR_GENERAL, message)
    }

    pub fn no_such_method() -> Self {
        Self::invalid("no such method")
    }

    pub fn no_such_cluster() -> Self {
        Self::invalid("no such cluster")
    }

    pub fn unavailable(err: impl std::fmt::Display) -> Self {
        tracing::error!(error = %err, "metadata store error");
        Self::Unavailable(Json(TubeResult {
            err_msg: "the metadata store is unavailable; try again".into(),
            err_code: 503,
            result: false,
            data: Value::String(String::new()),
        }))
    }
}

impl From<Forbidden> for TubeResponse {
    fn from(err: Forbidden) -> Self {
        Self::Forbidden(Json(TubeResult {
            err_msg: err.to_string(),
            err_code: 403,
            result: false,
            data: Value::String(String::new()),
        }))
    }
}

/// Reads a TubeMQ `clusterId`, which callers send as a number or a string.
pub fn cluster_id(value: Option<&Value>) -> Result<ClusterId, TubeResponse> {
    crate::edge::cluster_id("clusterId", value).map_err(TubeResponse::invalid)
}

/// Every registry error, in one place: business outcomes are HTTP 200 with
/// TubeMQ's codes; a metadata store that does not answer is a 503.
impl From<ServiceError> for TubeResponse {
    fn from(err: ServiceError) -> Self {
        match err.kind() {
            ErrorKind::Invalid | ErrorKind::Conflict => Self::invalid(err.message()),
            ErrorKind::NotFound => Self::no_such_cluster(),
            ErrorKind::Busy => Self::failure(ERR_IN_PROGRESS, err.message()),
            ErrorKind::Forbidden => Self::Forbidden(Json(TubeResult {
                err_msg: err.message().to_owned(),
                err_code: 403,
                result: false,
                data: Value::String(String::new()),
            })),
            ErrorKind::Unavailable => Self::unavailable(err.detail()),
        }
    }
}

/// Reads the `user` field TubeMQ callers must send.
pub fn user(value: Option<&str>) -> Result<String, TubeResponse> {
    match value.map(str::trim) {
        Some(u) if u.chars().count() > MAX_USER => Err(TubeResponse::invalid(format!(
            "user is longer than {MAX_USER} characters"
        ))),
        Some(u) if !u.is_empty() => Ok(u.to_owned()),
        _ => Err(TubeResponse::invalid("user is required")),
    }
}

/// Longest `user` a caller may send: it is stored with the task.
pub const MAX_USER: usize = 64;

/// Lets handlers use `?` on steps that answer early.
pub type TubeStep<T> = Result<T, TubeResponse>;

/// Unwraps a step that already holds the response to send.
pub fn answer(step: TubeStep<TubeResponse>) -> TubeResponse {
    step.unwrap_or_else(|resp| resp)
}
