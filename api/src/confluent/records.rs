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
//! `STRING` (UTF-8). A key or value without a `type` is `JSON`. The schema
//! registry types (`AVRO`, `JSONSCHEMA`, `PROTOBUF`) are refused with 422:
//! ferry has no schema registry yet.

use std::sync::Arc;

use base64::Engine;
use chrono::{DateTime, TimeZone, Utc};
use ferry_entity::Role;
use ferry_service::kafka::{
    KafkaCluster,
    produce::{self, Delivery, OutgoingRecord},
};
use futures::{Stream, StreamExt};
use poem::{Body, FromRequest, IntoResponse, Request, RequestBody, Response, http::Method};
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ApiResponse, Enum, ExtractParamOptions, Object, OpenApi,
    error::ContentTypeError,
    param::Path,
    payload::{ParsePayload, Payload},
    registry::{MetaMediaType, MetaRequest, MetaSchemaRef, Registry},
    types::{ParseFromJSON, ToJSON, Type},
};
use serde_json::{Value, json};

use super::{ConfluentError, Ctx, READ_TIMEOUT, V3Result};
use crate::{api_tags::ApiTags, auth::BearerAuth, body_schemas, state::AppState};

/// Routes whose body is a stream of records (module doc).
pub const STREAMED_ROUTES: [&str; 1] = ["/v3/clusters/{cluster_id}/topics/{topic_name}/records"];

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
    /// JSON value (`JSON`).
    #[oai(nullable)]
    pub data: Option<Value>,
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

/// The request body: one record or a stream of them, read as it arrives.
pub struct RecordStream {
    body: Body,
    /// Sent with a `Content-Length`: the whole body is known up front.
    sized: bool,
}

impl Payload for RecordStream {
    const CONTENT_TYPE: &'static str = "application/json";

    fn check_content_type(content_type: &str) -> bool {
        <poem_openapi::payload::Json<Value> as Payload>::check_content_type(content_type)
    }

    fn schema_ref() -> MetaSchemaRef {
        ProduceRequest::schema_ref()
    }

    fn register(registry: &mut Registry) {
        ProduceRequest::register(registry);
    }
}

impl ParsePayload for RecordStream {
    const IS_REQUIRED: bool = true;

    async fn from_request(request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        let sized = request
            .headers()
            .contains_key(poem::http::header::CONTENT_LENGTH);
        Ok(Self {
            body: <Body as FromRequest>::from_request(request, body).await?,
            sized,
        })
    }
}

impl<'a> ApiExtractor<'a> for RecordStream {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];

    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        <Self as Payload>::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: None,
            content: vec![MetaMediaType {
                content_type: Self::CONTENT_TYPE,
                schema: Self::schema_ref(),
            }],
            required: true,
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        match request.content_type() {
            Some(ct) if Self::check_content_type(ct) => {
                <Self as ParsePayload>::from_request(request, body).await
            }
            Some(ct) => Err(ContentTypeError::NotSupported {
                content_type: ct.to_owned(),
            }
            .into()),
            None => Err(ContentTypeError::ExpectContentType.into()),
        }
    }
}

/// Reports, one per record, written as records are delivered.
pub struct Reports(Body);

impl Payload for Reports {
    const CONTENT_TYPE: &'static str = "application/json";

    fn schema_ref() -> MetaSchemaRef {
        ProduceResponse::schema_ref()
    }

    fn register(registry: &mut Registry) {
        ProduceResponse::register(registry);
    }
}

impl IntoResponse for Reports {
    fn into_response(self) -> Response {
        Response::builder()
            .content_type(Self::CONTENT_TYPE)
            .body(self.0)
    }
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
            state: state.0.clone(),
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
    state: AppState,
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
        if let Some(validator) = self
            .state
            .bodies
            .validator(&Method::POST, STREAMED_ROUTES[0])
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
        let (key, key_type) = data(request.key, "key")?;
        let (value, value_type) = data(request.value, "value")?;
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
        let delivery = produce::produce(&self.cluster, &self.topic, vec![record])
            .await
            .map_err(|e| ConfluentError::kafka(&format!("producing to '{}'", self.topic), e))?;
        let outcome = delivery.into_iter().next();
        metrics::counter!("ferry_produced_records_total", "dialect" => "confluent", "outcome" => if matches!(outcome, Some(Delivery::Written { .. })) { "written" } else { "failed" })
            .increment(1);
        match outcome {
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
                    .map(|(type_, size)| ProduceResponseData { type_, size }),
                value: value_type
                    .zip(sizes.1)
                    .map(|(type_, size)| ProduceResponseData { type_, size }),
            }),
            Some(Delivery::Failed { retriable, message }) => Err(ConfluentError::delivery(
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

/// A key or value as bytes, with its type; 422 naming the field.
fn data(
    given: Option<ProduceRequestData>,
    field: &str,
) -> V3Result<(Option<Vec<u8>>, Option<DataType>)> {
    let Some(given) = given else {
        return Ok((None, None));
    };
    let type_ = given.type_.unwrap_or(DataType::Json);
    let bytes = match (type_, given.data) {
        (DataType::Avro | DataType::Jsonschema | DataType::Protobuf, _) => {
            return Err(ConfluentError::invalid(format!(
                "{field}: type {} needs a schema registry, and ferry has none: use BINARY, JSON or \
                 STRING",
                type_.to_json().unwrap_or(Value::Null)
            )));
        }
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

/// Every JSON value of a body known in full; a value that does not parse
/// ends the list with its error.
fn split_values(bytes: &[u8]) -> Vec<Result<Value, String>> {
    let mut values = Vec::new();
    for value in serde_json::Deserializer::from_slice(bytes).into_iter::<Value>() {
        match value {
            Ok(v) => values.push(Ok(v)),
            Err(e) => {
                values.push(Err(format!("the record does not parse: {e}")));
                break;
            }
        }
    }
    values
}

/// The JSON values of a body read as it arrives. A value longer than `max`
/// bytes, or one that does not parse, ends the stream with its error.
fn read_values(body: Body, max: usize) -> impl Stream<Item = Result<Value, String>> + Send {
    let chunks = body.into_bytes_stream();
    futures::stream::unfold(
        (chunks, Vec::<u8>::new(), false),
        move |(mut chunks, mut buf, ended)| async move {
            loop {
                if ended && buf.iter().all(u8::is_ascii_whitespace) {
                    return None;
                }
                let mut values = serde_json::Deserializer::from_slice(&buf).into_iter::<Value>();
                match values.next() {
                    Some(Ok(value)) => {
                        let used = values.byte_offset();
                        buf.drain(..used);
                        return Some((Ok(value), (chunks, buf, ended)));
                    }
                    Some(Err(e)) if !e.is_eof() || ended => {
                        let message = format!("the record does not parse: {e}");
                        return Some((Err(message), (chunks, Vec::new(), true)));
                    }
                    _ if buf.len() > max => {
                        let message =
                            format!("a record is larger than the {max} bytes ferry accepts");
                        return Some((Err(message), (chunks, Vec::new(), true)));
                    }
                    _ => {}
                }
                match chunks.next().await {
                    Some(Ok(chunk)) => buf.extend_from_slice(&chunk),
                    Some(Err(e)) => {
                        let message = format!("the request body could not be read: {e}");
                        return Some((Err(message), (chunks, Vec::new(), true)));
                    }
                    None => {
                        return next_after_end(chunks, buf);
                    }
                }
            }
        },
    )
}

type Unfolded<S> = Option<(Result<Value, String>, (S, Vec<u8>, bool))>;

/// The body ended: what is left in the buffer is the last value, if any.
fn next_after_end<S>(chunks: S, buf: Vec<u8>) -> Unfolded<S> {
    if buf.iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    match serde_json::from_slice::<Value>(&buf) {
        Ok(value) => Some((Ok(value), (chunks, Vec::new(), true))),
        Err(e) => Some((
            Err(format!("the record does not parse: {e}")),
            (chunks, Vec::new(), true),
        )),
    }
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
