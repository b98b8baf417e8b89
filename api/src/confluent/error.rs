//! The dialect's one error type: every refusal of a v3 route, with its
//! HTTP status and Confluent's `error_code` (the codes are listed in the
//! module doc of `confluent`), and the one mapping of `ServiceError`.

use ferry_service::{
    error::{ErrorKind, ServiceError},
    kafka::admin::AdminError,
};
use poem_openapi::{ApiResponse, Object, payload::Json};
use sea_orm::DbErr;

use crate::auth::Forbidden;

pub const TOPIC_NOT_FOUND: i32 = 40401;
pub const PARTITION_NOT_FOUND: i32 = 40402;
pub const GROUP_NOT_FOUND: i32 = 40403;
pub const TASK_IN_PROGRESS: i32 = 40901;
pub const TASK_CANCELLED: i32 = 40902;
pub const KAFKA_REFUSED: i32 = 40903;
pub const KAFKA_ERROR: i32 = 50002;
pub const KAFKA_RETRIABLE: i32 = 50003;

/// Confluent's error body.
#[derive(Debug, Object)]
pub struct ErrorBody {
    pub error_code: i32,
    pub message: String,
}

/// Every error of the v3 routes. Besides what handlers return, it lists what
/// the middleware answers before a handler runs (401, 413, 415, 429 as `42901`,
/// 503, and 400 for a request that does not parse), so that every
/// operation's document declares them: `dialect.rs` renders those in the
/// same shape.
#[derive(Debug, ApiResponse)]
pub enum ConfluentError {
    /// `400`: the request does not parse, or its body breaks its schema's
    /// shape.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// Missing or invalid bearer token.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// The token's role may not do this.
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
    /// `404` cluster, broker or config; `40401` topic; `40402` partition;
    /// `40403` consumer group or consumer.
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    /// `40901`: a task for the same topic is in progress; `40902`: it was
    /// cancelled; `40903`: the cluster refused a well-formed change.
    #[oai(status = 409)]
    Conflict(Json<ErrorBody>),
    /// The request breaks a rule; the message names the field.
    #[oai(status = 422)]
    Unprocessable(Json<ErrorBody>),
    /// The body is larger than `api.max_body_bytes`.
    #[oai(status = 413)]
    PayloadTooLarge(Json<ErrorBody>),
    /// The body is not `application/json` (or no `Content-Type` was sent).
    #[oai(status = 415)]
    UnsupportedMediaType(Json<ErrorBody>),
    /// `42901`: the token's rate limit is exceeded; retry after
    /// `Retry-After` seconds.
    #[oai(status = 429)]
    TooManyRequests(Json<ErrorBody>),
    /// `50002`: Kafka answered with an error that retrying will not fix.
    #[oai(status = 502)]
    BadGateway(Json<ErrorBody>),
    /// `50003`: the cluster did not answer in time; `503`: the metadata store
    /// is unavailable. Retry.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}

pub(crate) fn body(code: i32, message: impl Into<String>) -> Json<ErrorBody> {
    Json(ErrorBody {
        error_code: code,
        message: message.into(),
    })
}

impl ConfluentError {
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::Unprocessable(body(422, message))
    }
    pub fn not_found(code: i32, message: impl Into<String>) -> Self {
        Self::NotFound(body(code, message))
    }
    /// A well-formed change the cluster's state refuses.
    pub fn refused(message: impl Into<String>) -> Self {
        Self::Conflict(body(KAFKA_REFUSED, message))
    }
    pub fn conflict(code: i32, message: impl Into<String>) -> Self {
        Self::Conflict(body(code, message))
    }
    pub fn store(err: impl std::fmt::Display) -> Self {
        tracing::error!(error = %err, "metadata store error");
        Self::Unavailable(body(503, "the metadata store is unavailable; try again"))
    }
    pub fn topic_not_found(topic: &str) -> Self {
        Self::not_found(TOPIC_NOT_FOUND, format!("Topic '{topic}' not found."))
    }
    pub fn partition_not_found(topic: &str, partition: &str) -> Self {
        Self::not_found(
            PARTITION_NOT_FOUND,
            format!("Partition {partition} of topic '{topic}' not found."),
        )
    }

    /// A Kafka failure: 503 `50003` when trying again may succeed, else 502
    /// `50002`.
    pub fn kafka_failure(retriable: bool, message: String) -> Self {
        if retriable {
            Self::Unavailable(body(KAFKA_RETRIABLE, message))
        } else {
            Self::BadGateway(body(KAFKA_ERROR, message))
        }
    }

    /// The body's `error_code` and `message`, for an error written inside a
    /// stream of reports rather than as the answer.
    pub fn code_and_message(&self) -> (i32, &str) {
        let (Self::BadRequest(b)
        | Self::Unauthorized(b)
        | Self::Forbidden(b)
        | Self::NotFound(b)
        | Self::Conflict(b)
        | Self::Unprocessable(b)
        | Self::PayloadTooLarge(b)
        | Self::UnsupportedMediaType(b)
        | Self::TooManyRequests(b)
        | Self::BadGateway(b)
        | Self::Unavailable(b)) = self;
        (b.error_code, &b.message)
    }

    /// A Kafka call that failed, with what was being done.
    pub fn kafka(doing: &str, err: AdminError) -> Self {
        Self::kafka_failure(err.is_retryable(), format!("{doing}: {err}"))
    }
}

impl From<Forbidden> for ConfluentError {
    fn from(err: Forbidden) -> Self {
        Self::Forbidden(body(403, err.to_string()))
    }
}

impl From<DbErr> for ConfluentError {
    fn from(err: DbErr) -> Self {
        Self::store(err)
    }
}

/// Every registry error, in one place.
impl From<ServiceError> for ConfluentError {
    fn from(err: ServiceError) -> Self {
        let message = err.message().to_owned();
        match err.kind() {
            ErrorKind::Invalid => Self::invalid(message),
            ErrorKind::NotFound => Self::not_found(404, message),
            ErrorKind::Busy => Self::conflict(TASK_IN_PROGRESS, message),
            ErrorKind::Conflict => Self::conflict(409, message),
            ErrorKind::Forbidden => Self::Forbidden(body(403, message)),
            ErrorKind::Unavailable => {
                tracing::error!(error = %err.detail(), "request failed on a dependency");
                Self::Unavailable(body(503, message))
            }
        }
    }
}

pub type V3Result<T> = Result<T, ConfluentError>;
