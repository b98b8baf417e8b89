//! `POST /v3/clusters/{cluster_id}/topics/{topic_name}/records`: produce.
//!
//! The body is one `ProduceRequest` or a stream of them (JSON objects one
//! after another, typically sent chunked), as Confluent's REST Proxy takes
//! it. A body of exactly one record sent with a `Content-Length` is answered
//! like any call: 200 with its `ProduceResponse`, or the error's status. Any
//! other body is answered 200 with one report per record, in order, each a
//! `ProduceResponse` or an error `{error_code, message}`, written as soon as
//! its record is delivered: a client may keep the request open and read
//! reports while it sends. The size limit (`api.max_body_bytes`) then holds
//! for each record, not for the stream (`middleware::body_limit`), and each
//! record is checked against the document's schema here rather than by
//! `middleware::body_schema`, which would read the whole stream first.
//!
//! Data types: `BINARY` (base64), `JSON` (any value, produced as its text),
//! `STRING` (UTF-8). A key or value without a `type` is `JSON`, unless it
//! names a schema. The schema types (`AVRO`, `JSONSCHEMA`, `PROTOBUF`) are
//! written through the cluster's schema registry (`schemas.rs`); without
//! one they are refused with 422.

use std::sync::Arc;

use base64::Engine;
use chrono::{DateTime, TimeZone, Utc};
use ferry_entity::Role;
use ferry_service::kafka::{
    KafkaCluster,
    produce::{self, Delivery, OutgoingRecord},
};
use futures::{Stream, StreamExt};
use poem::{Body, Request, http::Method};
use poem_openapi::{
    ApiResponse, Enum, Object, OpenApi,
    param::Path,
    types::{ParseFromJSON, ToJSON},
};
use serde_json::{Value, json};

use super::{ConfluentError, Ctx, READ_TIMEOUT, V3Result};
use crate::{
    api_tags::ApiTags,
    auth::BearerAuth,
    body_schemas::{self, BodySchemas},
    dialect::STREAMED_ROUTES,
    state::AppState,
};

mod payload;
mod schemas;
mod values;

pub use payload::{RecordStream, Reports};
use values::{read_values, split_values};

/// Records produced at once from one stream.
const IN_FLIGHT: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "UPPERCASE")]
pub enum DataType {
    Binary,
    Json,
    String,
    Avro,
    Jsonschema,
    Protobuf,
}

/// A record's key or value.
#[derive(Debug, Object)]
pub struct ProduceRequestData {
    /// How `data` is encoded; `JSON` when omitted.
    #[oai(rename = "type", nullable)]
    pub type_: Option<DataType>,
    /// The data: a base64 string (`BINARY`), a string (`STRING`) or any
    /// JSON value (`JSON`, and the schema types: Avro's JSON encoding, the
    /// JSON Schema's document, Protobuf's JSON mapping).
    #[oai(nullable)]
    pub data: Option<Value>,
    /// Schema types: the subject (default: by `subject_name_strategy`).
    #[oai(nullable, validator(min_length = 1, max_length = 1024))]
    pub subject: Option<String>,
    /// Schema types: how the subject is named; `TOPIC_NAME` by default.
    #[oai(nullable)]
    pub subject_name_strategy: Option<schemas::SubjectNameStrategy>,
    /// Schema types: the schema's id in the registry.
    #[oai(nullable, validator(minimum(value = "0")))]
    pub schema_id: Option<i32>,
    /// Schema types: the subject's version (default: its latest).
    #[oai(nullable, validator(minimum(value = "1")))]
    pub schema_version: Option<i32>,
    /// Schema types: the schema in full, registered under the subject.
    #[oai(nullable, validator(max_length = 1048576))]
    pub schema: Option<String>,
}

#[derive(Debug, Object)]
pub struct ProduceRequestHeader {
    pub name: String,
    /// Base64; null for a header without a value.
    #[oai(nullable)]
    pub value: Option<String>,
}

#[derive(Debug, Object)]
pub struct ProduceRequest {
    /// The partition; null: the key's partition (murmur2, as the Java
    /// client), or any partition for a record without a key.
    #[oai(nullable, validator(minimum(value = "0")))]
    pub partition_id: Option<i32>,
    #[oai(nullable)]
    pub headers: Option<Vec<ProduceRequestHeader>>,
    #[oai(nullable)]
    pub key: Option<ProduceRequestData>,
    #[oai(nullable)]
    pub value: Option<ProduceRequestData>,
    /// The record's timestamp; null: the time it is produced.
    #[oai(nullable)]
    pub timestamp: Option<DateTime<Utc>>,
}

/// The size and type of a produced key or value.
#[derive(Debug, Object)]
pub struct ProduceResponseData {
    #[oai(rename = "type")]
    pub type_: DataType,
    pub size: i64,
    /// The schema's id (schema types); absent otherwise.
    #[oai(nullable, skip_serializing_if_is_none)]
    pub schema_id: Option<i32>,
    /// The subject's version the record was written with, when it was
    /// chosen by version; absent otherwise.
    #[oai(nullable, skip_serializing_if_is_none)]
    pub schema_version: Option<i32>,
}

#[derive(Debug, Object)]
pub struct ProduceResponse {
    /// 200.
    pub error_code: i32,
    pub cluster_id: String,
    pub topic_name: String,
    pub partition_id: i32,
    pub offset: i64,
    #[oai(nullable)]
    pub timestamp: Option<DateTime<Utc>>,
    #[oai(nullable)]
    pub key: Option<ProduceResponseData>,
    #[oai(nullable)]
    pub value: Option<ProduceResponseData>,
}

#[derive(ApiResponse)]
pub enum Produced {
    /// One record's report; for a stream, one report per record (a
    /// `ProduceResponse` or an error `{error_code, message}`), in order.
    #[oai(status = 200)]
    Ok(Reports),
}

pub struct ConfluentRecordsApi;

#[OpenApi(prefix_path = "/v3/clusters", tag = "ApiTags::Confluent")]
impl ConfluentRecordsApi {
    /// Produce one record, or a stream of records, to a topic.
    #[oai(path = "/:cluster_id/topics/:topic_name/records", method = "post")]
    async fn produce(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        cluster_id: Path<String>,
        topic_name: Path<String>,
        body: RecordStream,
    ) -> V3Result<Produced> {
        auth.0.require(Role::Client)?;
        let ctx = Ctx::open(&state, req, &cluster_id.0).await?;
        let topic = topic_name.0;
        if !ctx.sees(&topic) {
            return Err(ConfluentError::topic_not_found(&topic));
        }
        let partitions = produce::partition_count(&ctx.cluster, &topic, READ_TIMEOUT)
            .await
            .map_err(|e| ConfluentError::kafka(&format!("reading topic '{topic}'"), e))?
            .ok_or_else(|| ConfluentError::topic_not_found(&topic))?;
        let target = Arc::new(Target {
            cluster: ctx.cluster.clone(),
            cluster_id: ctx.cluster_id(),
            topic,
            partitions,
            bodies: state.bodies.clone(),
        });
        let max = usize::try_from(state.settings.api.max_body_bytes).unwrap_or(usize::MAX);
        if body.sized {
            let bytes = body
                .body
                .into_vec()
                .await
                .map_err(|e| ConfluentError::BadRequest(super::body(400, e.to_string())))?;
            let mut values = split_values(&bytes);
            // A body that does not start with a record is refused as a
            // call: there is nothing to report on.
            match values.first() {
                None => return Err(ConfluentError::invalid("the body holds no record")),
                Some(Err(message)) => {
                    return Err(ConfluentError::BadRequest(super::body(
                        400,
                        message.clone(),
                    )));
                }
                Some(Ok(_)) => {}
            }
            if matches!(values.as_slice(), [Ok(_)])
                && let Some(Ok(one)) = values.pop()
            {
                return match target.produce_one(one).await {
                    done @ Report::Done(_) => {
                        Ok(Produced::Ok(Reports(Body::from_string(done.to_line()))))
                    }
                    Report::Refused(err) => Err(err),
                };
            }
            let reports = futures::stream::iter(values);
            return Ok(Produced::Ok(Reports(report_stream(target, reports))));
        }
        let values = read_values(body.body, max);
        Ok(Produced::Ok(Reports(report_stream(target, values))))
    }
}

/// What every record of one call goes to.
struct Target {
    cluster: Arc<KafkaCluster>,
    cluster_id: String,
    topic: String,
    partitions: i32,
    /// The document's schemas, for checking each record.
    bodies: Arc<BodySchemas>,
}

enum Report {
    Done(ProduceResponse),
    Refused(ConfluentError),
}

impl Report {
    /// The report as one JSON object of the stream.
    fn to_line(&self) -> String {
        let mut line = match self {
            Report::Done(done) => done.to_json().unwrap_or(Value::Null).to_string(),
            Report::Refused(err) => {
                let (code, message) = err.code_and_message();
                json!({ "error_code": code, "message": message }).to_string()
            }
        };
        line.push('\n');
        line
    }
}

impl Target {
    async fn produce_one(&self, value: Value) -> Report {
        match self.try_produce(value).await {
            Ok(done) => Report::Done(done),
            Err(err) => Report::Refused(err),
        }
    }

    async fn try_produce(&self, value: Value) -> V3Result<ProduceResponse> {
        if let Some(validator) = self.bodies.validator(&Method::POST, STREAMED_ROUTES[0])
            && let Some(violation) = body_schemas::check(validator, &value)
        {
            return Err(ConfluentError::invalid(violation.message));
        }
        let request = ProduceRequest::parse_from_json(Some(value))
            .map_err(|e| ConfluentError::invalid(e.into_message()))?;
        if let Some(p) = request.partition_id
            && p >= self.partitions
        {
            return Err(ConfluentError::partition_not_found(
                &self.topic,
                &p.to_string(),
            ));
        }
        let (key, key_type) = self.data(request.key, "key").await?;
        let (value, value_type) = self.data(request.value, "value").await?;
        let mut headers = Vec::new();
        for h in request.headers.unwrap_or_default() {
            let value = h
                .value
                .map(|v| {
                    base64::engine::general_purpose::STANDARD
                        .decode(v.as_bytes())
                        .map_err(|e| {
                            ConfluentError::invalid(format!(
                                "header {} is not valid base64: {e}",
                                h.name
                            ))
                        })
                })
                .transpose()?;
            headers.push((h.name, value));
        }
        let sizes = (
            key.as_ref().map(|k| k.len() as i64),
            value.as_ref().map(|v| v.len() as i64),
        );
        let record = OutgoingRecord {
            key,
            value,
            partition: request.partition_id,
            headers,
            timestamp: request.timestamp.map(|t| t.timestamp_millis()),
        };
        let delivery = super::produce(&self.cluster, &self.topic, vec![record]).await?;
        match delivery.into_iter().next() {
            Some(Delivery::Written {
                partition,
                offset,
                timestamp,
            }) => Ok(ProduceResponse {
                error_code: 200,
                cluster_id: self.cluster_id.clone(),
                topic_name: self.topic.clone(),
                partition_id: partition,
                offset,
                timestamp: timestamp.and_then(|ms| Utc.timestamp_millis_opt(ms).single()),
                key: key_type
                    .zip(sizes.0)
                    .map(|(written, size)| written.answer(size)),
                value: value_type
                    .zip(sizes.1)
                    .map(|(written, size)| written.answer(size)),
            }),
            Some(Delivery::Failed { retriable, message }) => Err(ConfluentError::kafka_failure(
                retriable,
                format!("producing to '{}': {message}", self.topic),
            )),
            None => Err(ConfluentError::kafka(
                &format!("producing to '{}'", self.topic),
                ferry_service::kafka::admin::AdminError::Invalid("no delivery report".into()),
            )),
        }
    }
}

/// How a produced key or value was written, for its report.
struct WrittenAs {
    type_: DataType,
    schema_id: Option<i32>,
    schema_version: Option<i32>,
}

impl WrittenAs {
    fn answer(self, size: i64) -> ProduceResponseData {
        ProduceResponseData {
            type_: self.type_,
            size,
            schema_id: self.schema_id,
            schema_version: self.schema_version,
        }
    }
}

impl Target {
    /// A key or value as bytes, with how it was written; 422 naming the
    /// field.
    async fn data(
        &self,
        given: Option<ProduceRequestData>,
        field: &str,
    ) -> V3Result<(Option<Vec<u8>>, Option<WrittenAs>)> {
        let Some(given) = given else {
            return Ok((None, None));
        };
        if !schemas::is_schema_backed(&given) {
            let (bytes, type_) = plain_data(given, field)?;
            let written = type_.map(|type_| WrittenAs {
                type_,
                schema_id: None,
                schema_version: None,
            });
            return Ok((bytes, written));
        }
        let written =
            schemas::write(self.cluster.schema_registry(), &self.topic, given, field).await?;
        let Some(bytes) = written.bytes else {
            return Ok((None, None));
        };
        Ok((
            Some(bytes),
            Some(WrittenAs {
                type_: written.type_,
                schema_id: Some(written.schema_id),
                schema_version: written.schema_version,
            }),
        ))
    }
}

/// A `BINARY`, `JSON` or `STRING` key or value as bytes, with its type.
fn plain_data(
    given: ProduceRequestData,
    field: &str,
) -> V3Result<(Option<Vec<u8>>, Option<DataType>)> {
    let type_ = given.type_.unwrap_or(DataType::Json);
    let bytes = match (type_, given.data) {
        (_, None | Some(Value::Null)) => return Ok((None, None)),
        (DataType::Json, Some(v)) => v.to_string().into_bytes(),
        (DataType::String, Some(Value::String(s))) => s.into_bytes(),
        (DataType::Binary, Some(Value::String(s))) => base64::engine::general_purpose::STANDARD
            .decode(s.as_bytes())
            .map_err(|e| {
                ConfluentError::invalid(format!("{field}.data is not valid base64: {e}"))
            })?,
        (_, Some(_)) => {
            return Err(ConfluentError::invalid(format!(
                "{field}.data must be a string for type {}",
                type_.to_json().unwrap_or(Value::Null)
            )));
        }
    };
    Ok((Some(bytes), Some(type_)))
}

/// Produces each value as it comes, up to `IN_FLIGHT` at once, and writes
/// their reports in order; a value that does not parse is reported and
/// ends the stream.
fn report_stream(
    target: Arc<Target>,
    values: impl Stream<Item = Result<Value, String>> + Send + 'static,
) -> Body {
    let reports = values
        .map(move |value| {
            let target = target.clone();
            async move {
                match value {
                    Ok(value) => target.produce_one(value).await,
                    Err(message) => {
                        Report::Refused(ConfluentError::BadRequest(super::body(400, message)))
                    }
                }
            }
        })
        .buffered(IN_FLIGHT)
        .map(|report| Ok::<_, std::io::Error>(report.to_line()));
    Body::from_bytes_stream(reports)
}
