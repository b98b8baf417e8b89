//! The native dialect: `/api/v1/...`, plain JSON bodies and RFC 7807 problem
//! details for errors.

use ferry_service::error::{ErrorKind, ServiceError};
use poem_openapi::{ApiResponse, Object, payload::Json};
use sea_orm::DbErr;

use crate::auth::Forbidden;

pub mod audit;
pub mod changesets;
pub mod clusters;
pub mod projects;
pub mod reassignments;
pub mod session;
pub mod statistics;
pub mod tasks;
pub mod tokens;

/// RFC 7807 problem details.
#[derive(Debug, Object)]
pub struct Problem {
    #[oai(rename = "type")]
    pub problem_type: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
}

/// Every error of the native API. Besides what handlers return, it lists
/// what the middleware answers before a handler runs (401, 413, 415, 429, 503 and
/// 400 for a request that does not parse), so that every operation's
/// document declares them: `dialect.rs` renders those in the same shape.
#[derive(Debug, ApiResponse)]
pub enum NativeError {
    /// The request is invalid; `detail` names the field.
    #[oai(status = 400, content_type = "application/problem+json")]
    BadRequest(Json<Problem>),
    /// Missing or invalid bearer token.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>),
    /// The token's role may not do this.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
    /// The resource is in a state that does not allow this.
    #[oai(status = 409, content_type = "application/problem+json")]
    Conflict(Json<Problem>),
    /// The body is larger than `api.max_body_bytes`.
    #[oai(status = 413, content_type = "application/problem+json")]
    PayloadTooLarge(Json<Problem>),
    /// The body is not `application/json` (or no `Content-Type` was sent).
    #[oai(status = 415, content_type = "application/problem+json")]
    UnsupportedMediaType(Json<Problem>),
    /// The token's rate limit is exceeded; retry after `Retry-After` seconds.
    #[oai(status = 429, content_type = "application/problem+json")]
    TooManyRequests(Json<Problem>),
    /// The metadata store or the queue is unavailable; try again.
    #[oai(status = 503, content_type = "application/problem+json")]
    Unavailable(Json<Problem>),
}

fn problem(status: u16, title: &str, detail: impl Into<String>) -> Json<Problem> {
    Json(Problem {
        problem_type: "about:blank".into(),
        title: title.into(),
        status,
        detail: detail.into(),
    })
}

impl NativeError {
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::BadRequest(problem(400, "Bad Request", detail))
    }
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::NotFound(problem(404, "Not Found", detail))
    }
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::Conflict(problem(409, "Conflict", detail))
    }
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::Unavailable(problem(503, "Service Unavailable", detail))
    }

    /// The same error about one element of a list: its detail starts with
    /// where that element is (`tasks[3]: ...`).
    pub fn within(mut self, place: &str) -> Self {
        let (Self::BadRequest(Json(p))
        | Self::Unauthorized(Json(p))
        | Self::Forbidden(Json(p))
        | Self::NotFound(Json(p))
        | Self::Conflict(Json(p))
        | Self::PayloadTooLarge(Json(p))
        | Self::UnsupportedMediaType(Json(p))
        | Self::TooManyRequests(Json(p))
        | Self::Unavailable(Json(p))) = &mut self;
        p.detail = format!("{place}: {}", p.detail);
        self
    }
}

impl From<Forbidden> for NativeError {
    fn from(err: Forbidden) -> Self {
        Self::Forbidden(problem(403, "Forbidden", err.to_string()))
    }
}

impl From<DbErr> for NativeError {
    fn from(err: DbErr) -> Self {
        tracing::error!(error = %err, "metadata store error");
        Self::unavailable("the metadata store is unavailable; try again")
    }
}

/// Every registry error, in one place.
impl From<ServiceError> for NativeError {
    fn from(err: ServiceError) -> Self {
        let detail = err.message().to_owned();
        match err.kind() {
            ErrorKind::Invalid => Self::bad_request(detail),
            ErrorKind::NotFound => Self::not_found(detail),
            ErrorKind::Conflict | ErrorKind::Busy => Self::conflict(detail),
            ErrorKind::Forbidden => Self::Forbidden(problem(403, "Forbidden", detail)),
            ErrorKind::Unavailable => {
                tracing::error!(error = %err.detail(), "request failed on a dependency");
                Self::unavailable(detail)
            }
        }
    }
}

pub type NativeResult<T> = Result<T, NativeError>;

/// Validates `page` (0 is read as 1) and `pageSize` against the limit.
pub fn paging(page: Option<u64>, page_size: Option<u64>, max: u64) -> NativeResult<(u64, u64)> {
    crate::edge::paging(page, page_size.unwrap_or(20), max).map_err(NativeError::bad_request)
}
