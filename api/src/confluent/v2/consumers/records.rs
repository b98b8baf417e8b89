//! `GET /consumers/{group}/instances/{instance}/records?timeout&max_bytes`:
//! records in the instance's embedded format, answered as
//! `application/vnd.kafka.{format}.v2+json`.
//!
//! The `Accept` header must allow that type (directly, by a wildcard, or by
//! one of v2's generic types); one that names only another format's type is
//! refused with 406 `40601`, as the REST Proxy does. This route negotiates
//! for itself: `middleware::kafka_accept` leaves it alone.
//!
//! Unlike the REST Proxy, which always waits out the timeout, a call
//! answers as soon as records are there (or `fetch.min.bytes` of them).
//! The wait is the smaller of `timeout` and the instance's (else the
//! server's) `consumer.request.timeout.ms`; the size is the smaller of
//! `max_bytes` and `confluent.consumer_request_max_bytes`, and an answer
//! holds at least one record when one is there.
//!
//! An instance of a schema format (`avro`, `jsonschema`, `protobuf`) reads
//! each key and value through the cluster's schema registry
//! (`super::super::schemas`). A record that does not render in the
//! instance's format fails the call, naming where it is, and the call's
//! records are given back (`Instance::unread`): nothing is skipped unseen.

use std::time::Duration;

use base64::Engine;
use ferry_entity::{Role, consumer_instance::ConsumerFormat};
use ferry_service::{consumers::ConsumedRecord, schema_registry::SchemaRegistry};
use poem::{IntoResponse, Request, Response, http::header};
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::{Path, Query},
    payload::Json,
    registry::{MetaMediaType, MetaResponse, MetaResponses, Registry},
    types::{ToJSON, Type},
};
use serde_json::Value;

use super::{FORMAT_MISMATCH, serve};
use crate::{
    api_tags::ApiTags,
    auth::BearerAuth,
    confluent::v2::{V2Error, V2Result, schemas},
    confluent::{ConfluentError, Ctx, ErrorBody},
    middleware::kafka_accept,
    state::AppState,
};

const BINARY: &str = "application/vnd.kafka.binary.v2+json";
const JSON: &str = "application/vnd.kafka.json.v2+json";
const AVRO: &str = "application/vnd.kafka.avro.v2+json";
const JSON_SCHEMA: &str = "application/vnd.kafka.jsonschema.v2+json";
const PROTOBUF: &str = "application/vnd.kafka.protobuf.v2+json";

/// v2's generic types, which any consumer's records may be answered under.
const GENERIC: [&str; 3] = [
    "application/vnd.kafka.v2+json",
    "application/vnd.kafka+json",
    "application/json",
];

/// One record.
#[derive(Debug, Object)]
pub struct V2ConsumerRecord {
    pub topic: String,
    /// The key in the instance's format (base64 for `binary`), or null.
    #[oai(nullable)]
    pub key: Option<Value>,
    /// The value in the instance's format, or null.
    #[oai(nullable)]
    pub value: Option<Value>,
    pub partition: i32,
    pub offset: i64,
}

/// The records, under the instance's format's content type.
pub struct RecordsAnswer {
    content_type: &'static str,
    records: Vec<V2ConsumerRecord>,
}

impl IntoResponse for RecordsAnswer {
    fn into_response(self) -> Response {
        let body = self.records.to_json().unwrap_or_default().to_string();
        Response::builder()
            .content_type(self.content_type)
            .body(body)
    }
}

impl ApiResponse for RecordsAnswer {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: vec![MetaResponse {
                description: "The records, in the instance's embedded format.",
                status: Some(200),
                status_range: None,
                content: [BINARY, JSON, AVRO, JSON_SCHEMA, PROTOBUF]
                    .into_iter()
                    .map(|content_type| MetaMediaType {
                        content_type,
                        schema: <Vec<V2ConsumerRecord>>::schema_ref(),
                    })
                    .collect(),
                headers: vec![],
            }],
        }
    }

    fn register(registry: &mut Registry) {
        <Vec<V2ConsumerRecord>>::register(registry);
    }
}

fn own_type(format: ConsumerFormat) -> &'static str {
    match format {
        ConsumerFormat::Binary => BINARY,
        ConsumerFormat::Json => JSON,
        ConsumerFormat::Avro => AVRO,
        ConsumerFormat::JsonSchema => JSON_SCHEMA,
        ConsumerFormat::Protobuf => PROTOBUF,
    }
}

/// The type the answer is sent under, or why the `Accept` header rules
/// every one out (module doc).
fn answer_type(accept: Option<&str>, format: ConsumerFormat) -> V2Result<&'static str> {
    let own = own_type(format);
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Ok(own);
    };
    let mut names_another_format = false;
    let ranges = accept
        .split(',')
        .filter_map(|range| range.trim().parse::<mime::Mime>().ok())
        .filter(kafka_accept::weighs);
    for range in ranges {
        let essence = range.essence_str().to_ascii_lowercase();
        if essence == own
            || essence == "*/*"
            || essence == "application/*"
            || GENERIC.contains(&essence.as_str())
        {
            return Ok(own);
        }
        if essence.starts_with("application/vnd.kafka.") {
            names_another_format = true;
        }
    }
    let offered = format!("{own} (or {})", GENERIC.join(", "));
    if names_another_format {
        Err(V2Error::NotAcceptable(Json(ErrorBody {
            error_code: FORMAT_MISMATCH,
            message: format!(
                "Consumer format does not match the embedded format requested by the Accept \
                 header: this instance's format is {}; accept {offered}",
                format.as_str()
            ),
        })))
    } else {
        Err(V2Error::NotAcceptable(Json(ErrorBody {
            error_code: 406,
            message: format!("the Accept header allows none of {offered}"),
        })))
    }
}

/// How an instance's keys and values are embedded: its format, with the
/// cluster's registry for the schema formats.
#[derive(Clone, Copy)]
enum Embedding<'a> {
    Binary,
    Json,
    Schema(&'a SchemaRegistry),
}

impl<'a> Embedding<'a> {
    /// The embedding of `format` on `ctx`'s cluster; 40801 for a schema
    /// format whose cluster has since dropped its registry, before any
    /// record is read for nothing.
    fn of(format: ConsumerFormat, ctx: &'a Ctx) -> V2Result<Self> {
        Ok(match format {
            ConsumerFormat::Binary => Embedding::Binary,
            ConsumerFormat::Json => Embedding::Json,
            ConsumerFormat::Avro | ConsumerFormat::JsonSchema | ConsumerFormat::Protobuf => {
                Embedding::Schema(schemas::registry(ctx, format.as_str())?)
            }
        })
    }
}

async fn render(embedding: Embedding<'_>, record: &ConsumedRecord) -> V2Result<V2ConsumerRecord> {
    // Written only for an error: a read's every record passes here.
    let at = || {
        format!(
            "topic '{}' partition {} offset {}",
            record.topic, record.partition, record.offset
        )
    };
    let not_json = |what: &str, e: serde_json::Error| {
        V2Error::from(ConfluentError::kafka_failure(
            false,
            format!(
                "the {what} of the record at {} is not JSON ({e}); read it with a binary \
                 instance, or seek past it with positions",
                at()
            ),
        ))
    };
    let mut embedded = [None, None];
    for (slot, (bytes, what)) in embedded
        .iter_mut()
        .zip([(&record.key, "key"), (&record.value, "value")])
    {
        let Some(bytes) = bytes else { continue };
        *slot = Some(match embedding {
            Embedding::Binary => {
                Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
            }
            Embedding::Json => serde_json::from_slice(bytes).map_err(|e| not_json(what, e))?,
            Embedding::Schema(registry) => schemas::decode(registry, bytes, what, &at).await?,
        });
    }
    let [key, value] = embedded;
    Ok(V2ConsumerRecord {
        key,
        value,
        topic: record.topic.clone(),
        partition: record.partition,
        offset: record.offset,
    })
}

pub struct ConfluentV2RecordsApi;

#[OpenApi(tag = "ApiTags::ConfluentV2")]
impl ConfluentV2RecordsApi {
    /// Read records from what the instance subscribed to or was assigned.
    #[oai(
        path = "/consumers/:group_name/instances/:instance/records",
        method = "get"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn records(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        group_name: Path<String>,
        instance: Path<String>,
        /// The longest to wait for records, in milliseconds.
        timeout: Query<Option<i64>>,
        /// The most key and value bytes to answer.
        max_bytes: Query<Option<i64>>,
    ) -> V2Result<RecordsAnswer> {
        auth.0.require(Role::Client)?;
        let (ctx, instance) = serve(&state, req, &group_name.0, &instance.0).await?;
        let embedding = Embedding::of(instance.format, &ctx)?;
        let content_type = answer_type(
            req.headers()
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok()),
            instance.format,
        )?;
        let settings = state.consumers.settings();
        let longest = instance
            .settings
            .request_timeout_ms
            .unwrap_or(settings.consumer_request_timeout_ms);
        let wait = match timeout.0 {
            Some(ms) if ms > 0 => longest.min(ms as u64),
            _ => longest,
        };
        let max_bytes = match max_bytes.0 {
            Some(n) if n > 0 => settings.consumer_request_max_bytes.min(n as u64),
            _ => settings.consumer_request_max_bytes,
        };
        let read = instance
            .records(Duration::from_millis(wait), max_bytes)
            .await?;
        metrics::counter!("ferry_consumed_records_total").increment(read.len() as u64);
        let mut records = Vec::with_capacity(read.len());
        for record in &read {
            match render(embedding, record).await {
                Ok(rendered) => records.push(rendered),
                Err(err) => {
                    instance.unread(&read).await?;
                    return Err(err);
                }
            }
        }
        Ok(RecordsAnswer {
            content_type,
            records,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_accept_header_must_allow_the_instances_format() {
        use ConsumerFormat::*;
        assert_eq!(answer_type(None, Binary).ok(), Some(BINARY));
        assert_eq!(answer_type(Some(BINARY), Binary).ok(), Some(BINARY));
        assert_eq!(answer_type(Some(JSON), Json).ok(), Some(JSON));
        assert_eq!(answer_type(Some("*/*"), Json).ok(), Some(JSON));
        assert_eq!(
            answer_type(Some("application/vnd.kafka.v2+json"), Binary).ok(),
            Some(BINARY)
        );
        assert_eq!(
            answer_type(Some(&format!("{JSON}, {BINARY}")), Binary).ok(),
            Some(BINARY)
        );
        let code = |r: V2Result<&str>| match r {
            Err(V2Error::NotAcceptable(b)) => b.0.error_code,
            _ => 0,
        };
        assert_eq!(code(answer_type(Some(JSON), Binary)), FORMAT_MISMATCH);
        assert_eq!(
            code(answer_type(
                Some("application/vnd.kafka.avro.v2+json"),
                Json
            )),
            FORMAT_MISMATCH
        );
        assert_eq!(code(answer_type(Some("text/html"), Json)), 406);
        assert_eq!(
            code(answer_type(Some(&format!("{BINARY};q=0")), Binary)),
            406
        );
    }
}
