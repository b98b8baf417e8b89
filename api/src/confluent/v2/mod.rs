//! Confluent REST Proxy API v2: `/topics`, `/topics/{topic_name}`,
//! `/topics/{topic_name}/partitions[/{partition_id}[/offsets]]` and
//! `/brokers`, with produce to a topic or a partition, and consumer
//! instances (`consumers/`).
//!
//! Content types: requests may say `application/vnd.kafka[.{format}][.v2]+json`,
//! `application/json` or `application/octet-stream`; a produce request's
//! embedded format is named in its `Content-Type` (`binary` when it names
//! none). Answers are `application/vnd.kafka.v2+json`, or whichever of that,
//! `application/vnd.kafka+json` and `application/json` the `Accept` header
//! weighs highest (`middleware::kafka_accept`); an `Accept` that allows none
//! of them is answered 406.
//!
//! v2 paths name no cluster. They act on, in order: the one Kafka cluster a
//! project token is granted; the registered cluster named by the setting
//! `confluent.v2_cluster` (its id, name or UUID); the only registered Kafka
//! cluster. Otherwise the call is refused with a message naming the setting.
//!
//! Errors are `{error_code, message}` with the REST Proxy's codes: `40401`
//! topic not found, `40402` partition not found, `42201`/`42202` a schema
//! format without its schema, `42205` a key or value that does not decode in
//! its embedded format (or does not fit its schema, or a schema that does
//! not parse), `40801` (408) a schema format on a cluster without a schema
//! registry, or a registry that failed (`schemas.rs`), `50002` a Kafka
//! error, `50003` a retriable one; the rest as in v3 (`super`).

use std::sync::Arc;

use ferry_entity::{ClusterId, ClusterKind};
use ferry_service::clusters;
use poem::Request;
use poem_openapi::{ApiResponse, payload::Json};

use super::{ConfluentError, Ctx, ErrorBody, V3Result, error::body};
use crate::{auth::Identity, state::AppState};

pub mod body;
pub mod brokers;
pub mod consumers;
pub mod partitions;
pub mod produce;
pub mod schemas;
pub mod topics;

/// v2's own content type, which every answer declares.
pub use crate::dialect::KAFKA_V2_JSON as V2_JSON;

/// Every v2 route, as one element of the application's API tuple.
pub type ConfluentV2Apis = (
    topics::ConfluentV2TopicsApi,
    partitions::ConfluentV2PartitionsApi,
    brokers::ConfluentV2BrokersApi,
    consumers::ConfluentV2ConsumersApi,
    consumers::create::ConfluentV2ConsumerCreateApi,
    consumers::offsets::ConfluentV2ConsumerOffsetsApi,
    consumers::records::ConfluentV2RecordsApi,
);

pub fn apis() -> ConfluentV2Apis {
    (
        topics::ConfluentV2TopicsApi,
        partitions::ConfluentV2PartitionsApi,
        brokers::ConfluentV2BrokersApi,
        consumers::ConfluentV2ConsumersApi,
        consumers::create::ConfluentV2ConsumerCreateApi,
        consumers::offsets::ConfluentV2ConsumerOffsetsApi,
        consumers::records::ConfluentV2RecordsApi,
    )
}

pub const KEY_SCHEMA_MISSING: i32 = 42201;
pub const VALUE_SCHEMA_MISSING: i32 = 42202;
pub const INVALID_DATA: i32 = 42205;
pub const SCHEMA_REGISTRY: i32 = 40801;

/// Every error of the v2 routes, in v2's content type; the middleware's own
/// refusals (401, 413, 415, 429, 503, 400) are rendered in the same shape by
/// `dialect.rs`.
#[derive(Debug, ApiResponse)]
pub enum V2Error {
    /// `400`: the request does not parse, or its body breaks its schema's
    /// shape.
    #[oai(status = 400, content_type = "application/vnd.kafka.v2+json")]
    BadRequest(Json<ErrorBody>),
    /// Missing or invalid bearer token.
    #[oai(status = 401, content_type = "application/vnd.kafka.v2+json")]
    Unauthorized(Json<ErrorBody>),
    /// The token's role may not do this.
    #[oai(status = 403, content_type = "application/vnd.kafka.v2+json")]
    Forbidden(Json<ErrorBody>),
    /// `40401` topic; `40402` partition; `404` no Kafka cluster to act on.
    #[oai(status = 404, content_type = "application/vnd.kafka.v2+json")]
    NotFound(Json<ErrorBody>),
    /// `406`: the `Accept` header allows none of v2's content types.
    #[oai(status = 406, content_type = "application/vnd.kafka.v2+json")]
    NotAcceptable(Json<ErrorBody>),
    /// `40801`: the embedded format needs a schema registry, and the
    /// cluster has none, or the registry failed or lacks the schema.
    #[oai(status = 408, content_type = "application/vnd.kafka.v2+json")]
    RequestTimeout(Json<ErrorBody>),
    /// `409`: the call cannot choose a Kafka cluster.
    #[oai(status = 409, content_type = "application/vnd.kafka.v2+json")]
    Conflict(Json<ErrorBody>),
    /// The body is larger than `api.max_body_bytes`.
    #[oai(status = 413, content_type = "application/vnd.kafka.v2+json")]
    PayloadTooLarge(Json<ErrorBody>),
    /// The body's content type is not one of v2's.
    #[oai(status = 415, content_type = "application/vnd.kafka.v2+json")]
    UnsupportedMediaType(Json<ErrorBody>),
    /// `422`, `42201`, `42202`, `42205`: the request breaks a rule; the
    /// message names the field or record.
    #[oai(status = 422, content_type = "application/vnd.kafka.v2+json")]
    Unprocessable(Json<ErrorBody>),
    /// `42901`: the token's rate limit is exceeded.
    #[oai(status = 429, content_type = "application/vnd.kafka.v2+json")]
    TooManyRequests(Json<ErrorBody>),
    /// `50002`: Kafka answered with an error that retrying will not fix.
    #[oai(status = 502, content_type = "application/vnd.kafka.v2+json")]
    BadGateway(Json<ErrorBody>),
    /// `50003`: the cluster did not answer in time; `503`: the metadata
    /// store is unavailable. Retry.
    #[oai(status = 503, content_type = "application/vnd.kafka.v2+json")]
    Unavailable(Json<ErrorBody>),
}

pub type V2Result<T> = Result<T, V2Error>;

impl V2Error {
    pub fn unprocessable(code: i32, message: impl Into<String>) -> Self {
        Self::Unprocessable(body(code, message))
    }
}

/// v3's errors are v2's too: the same codes and statuses, v2's content type.
impl From<ConfluentError> for V2Error {
    fn from(err: ConfluentError) -> Self {
        match err {
            ConfluentError::BadRequest(b) => Self::BadRequest(b),
            ConfluentError::Unauthorized(b) => Self::Unauthorized(b),
            ConfluentError::Forbidden(b) => Self::Forbidden(b),
            ConfluentError::NotFound(b) => Self::NotFound(b),
            ConfluentError::Conflict(b) => Self::Conflict(b),
            ConfluentError::Unprocessable(b) => Self::Unprocessable(b),
            ConfluentError::PayloadTooLarge(b) => Self::PayloadTooLarge(b),
            ConfluentError::UnsupportedMediaType(b) => Self::UnsupportedMediaType(b),
            ConfluentError::TooManyRequests(b) => Self::TooManyRequests(b),
            ConfluentError::BadGateway(b) => Self::BadGateway(b),
            ConfluentError::Unavailable(b) => Self::Unavailable(b),
        }
    }
}

impl From<crate::auth::Forbidden> for V2Error {
    fn from(err: crate::auth::Forbidden) -> Self {
        ConfluentError::from(err).into()
    }
}

impl From<ferry_service::error::ServiceError> for V2Error {
    fn from(err: ferry_service::error::ServiceError) -> Self {
        ConfluentError::from(err).into()
    }
}

/// The Kafka cluster a v2 call acts on, as v3's `Ctx` (module doc).
pub async fn open(state: &AppState, req: &Request) -> V2Result<Ctx> {
    let identity = req
        .extensions()
        .get::<Identity>()
        .cloned()
        .ok_or_else(|| V2Error::Unauthorized(body(401, "a bearer token is required")))?;
    let id = choose_cluster(state, &identity).await?;
    Ok(Ctx::open(state, req, &id.to_string()).await?)
}

/// The Kafka cluster a v2 call acts on (module doc).
pub(crate) async fn choose_cluster(state: &AppState, identity: &Identity) -> V2Result<ClusterId> {
    let kafka = match state.kafka_clusters.get(&()) {
        Some(known) => known,
        None => {
            let listed = Arc::new(clusters::list(&state.store, Some(ClusterKind::Kafka)).await?);
            state.kafka_clusters.insert((), listed.clone());
            listed
        }
    };
    if kafka.is_empty() {
        return Err(no_cluster("no Kafka cluster is registered"));
    }
    if !identity.is_global() {
        let granted: Vec<_> = kafka
            .iter()
            .filter(|c| identity.reaches_cluster(c.id))
            .collect();
        return match granted.as_slice() {
            [one] => Ok(one.id),
            [] => Err(no_cluster(
                "this token's project is granted no Kafka cluster",
            )),
            many => Err(V2Error::Conflict(body(
                409,
                format!(
                    "this token's project is granted {} Kafka clusters; REST Proxy v2 paths name \
                     none, so it serves a project with exactly one",
                    many.len()
                ),
            ))),
        };
    }
    if let Some(named) = state.settings.confluent.v2_cluster.as_deref() {
        let named = named.trim();
        return kafka
            .iter()
            .find(|c| c.id.to_string() == named || c.name == named || c.uuid == named)
            .map(|c| c.id)
            .ok_or_else(|| {
                no_cluster(&format!(
                    "the setting confluent.v2_cluster names {named}, which is not a registered \
                     Kafka cluster"
                ))
            });
    }
    match kafka.as_slice() {
        [one] => Ok(one.id),
        many => Err(V2Error::Conflict(body(
            409,
            format!(
                "{} Kafka clusters are registered and REST Proxy v2 paths name none: set \
                 confluent.v2_cluster (FERRY_CONFLUENT__V2_CLUSTER) to the id, name or UUID of \
                 the one v2 acts on",
                many.len()
            ),
        ))),
    }
}

fn no_cluster(why: &str) -> V2Error {
    V2Error::NotFound(body(
        404,
        format!("{why}; REST Proxy v2 needs one Kafka cluster to act on"),
    ))
}

/// A v3 result as a v2 one.
pub fn v2<T>(result: V3Result<T>) -> V2Result<T> {
    result.map_err(V2Error::from)
}
