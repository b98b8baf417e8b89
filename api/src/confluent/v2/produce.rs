//! Produce to a topic or a partition: the records of one call decoded in
//! their embedded format (`body.rs`; the schema formats written with their
//! schemas, `schemas.rs`), refused whole if any does not decode,
//! then handed to the cluster's producer (`ferry_service::kafka::produce`)
//! and answered with one `offsets` entry per record, in request order: its
//! partition and offset, or `error_code` 1 (will not succeed if retried) or
//! 2 (may) with the error.

use base64::Engine;
use ferry_service::kafka::produce::{self, Delivery, OutgoingRecord};
use poem_openapi::Object;
use serde_json::Value;

use super::{
    INVALID_DATA, V2Error, V2Result,
    body::EmbeddedFormat,
    schemas::{self, Resolved},
};
use crate::confluent::{ConfluentError, Ctx, READ_TIMEOUT};

/// One record of a produce to a topic.
#[derive(Debug, Object)]
pub struct V2ProduceRecord {
    /// The key in the embedded format (a base64 string for `binary`), or
    /// null for none.
    #[oai(nullable)]
    pub key: Option<Value>,
    /// The value in the embedded format, or null (a tombstone).
    #[oai(nullable)]
    pub value: Option<Value>,
    /// The partition to write to; null: the key's partition (murmur2, as
    /// the Java client), or any partition for a record without a key.
    #[oai(nullable, validator(minimum(value = "0")))]
    pub partition: Option<i32>,
}

/// One record of a produce to a partition.
#[derive(Debug, Object)]
pub struct V2PartitionProduceRecord {
    /// The key in the embedded format, or null for none.
    #[oai(nullable)]
    pub key: Option<Value>,
    /// The value in the embedded format, or null (a tombstone).
    #[oai(nullable)]
    pub value: Option<Value>,
}

/// Schemas of the `avro`, `jsonschema` and `protobuf` formats, which need a
/// schema registry: each in full (registered under `{topic}-key` or
/// `{topic}-value`) or by its id in the registry.
#[derive(Debug, Object)]
pub struct V2SchemaFields {
    /// The key's schema, in full.
    #[oai(nullable)]
    pub key_schema: Option<String>,
    /// The key schema's id in the registry.
    #[oai(nullable)]
    pub key_schema_id: Option<i32>,
    /// The value's schema, in full.
    #[oai(nullable)]
    pub value_schema: Option<String>,
    /// The value schema's id in the registry.
    #[oai(nullable)]
    pub value_schema_id: Option<i32>,
}

#[derive(Debug, Object)]
pub struct V2TopicProduceRequest {
    #[oai(flatten)]
    pub schemas: V2SchemaFields,
    /// At least one record.
    #[oai(validator(min_items = 1))]
    pub records: Vec<V2ProduceRecord>,
}

#[derive(Debug, Object)]
pub struct V2PartitionProduceRequest {
    #[oai(flatten)]
    pub schemas: V2SchemaFields,
    /// At least one record.
    #[oai(validator(min_items = 1))]
    pub records: Vec<V2PartitionProduceRecord>,
}

/// Where one record landed, or why it did not.
#[derive(Debug, Object)]
pub struct V2RecordOffset {
    /// Null when the record was not written.
    #[oai(nullable)]
    pub partition: Option<i32>,
    /// Null when the record was not written.
    #[oai(nullable)]
    pub offset: Option<i64>,
    /// Null when written; 1: a Kafka error retrying will not fix; 2: one
    /// it may.
    #[oai(nullable)]
    pub error_code: Option<i64>,
    /// Null when written; else why not.
    #[oai(nullable)]
    pub error: Option<String>,
}

#[derive(Debug, Object)]
pub struct V2ProduceResponse {
    /// The keys' schema id (schema formats); null without one.
    #[oai(nullable)]
    pub key_schema_id: Option<i32>,
    /// The values' schema id (schema formats); null without one.
    #[oai(nullable)]
    pub value_schema_id: Option<i32>,
    /// One entry per record, in request order.
    pub offsets: Vec<V2RecordOffset>,
}

/// A record as the request gave it, before decoding.
pub struct RawRecord {
    pub key: Option<Value>,
    pub value: Option<Value>,
    pub partition: Option<i32>,
}

/// Produces `records` to `topic` (to `partition` when the route names one).
pub async fn produce(
    ctx: &Ctx,
    topic: &str,
    format: EmbeddedFormat,
    schemas: &V2SchemaFields,
    records: Vec<RawRecord>,
) -> V2Result<V2ProduceResponse> {
    if !ctx.sees(topic) {
        return Err(ConfluentError::topic_not_found(topic).into());
    }
    let kind = schemas::kind_of(format);
    let (key_schema, value_schema) = match kind {
        Some(kind) => schemas::for_produce(ctx, topic, format, kind, schemas, &records).await?,
        None => (None, None),
    };
    let outgoing = records
        .into_iter()
        .enumerate()
        .map(|(i, r)| match kind {
            Some(_) => encode(&key_schema, &value_schema, i, r),
            None => decode(format, i, r),
        })
        .collect::<V2Result<Vec<_>>>()?;
    let partitions = produce::partition_count(&ctx.cluster, topic, READ_TIMEOUT)
        .await
        .map_err(|e| ConfluentError::kafka(&format!("reading topic '{topic}'"), e))?
        .ok_or_else(|| ConfluentError::topic_not_found(topic))?;
    if let Some(p) = outgoing
        .iter()
        .filter_map(|r| r.partition)
        .find(|p| *p >= partitions)
    {
        return Err(ConfluentError::partition_not_found(topic, &p.to_string()).into());
    }
    let deliveries = crate::confluent::produce(&ctx.cluster, topic, outgoing).await?;
    Ok(V2ProduceResponse {
        key_schema_id: key_schema.map(|(id, _)| id),
        value_schema_id: value_schema.map(|(id, _)| id),
        offsets: deliveries.into_iter().map(offset_of).collect(),
    })
}

fn offset_of(delivery: Delivery) -> V2RecordOffset {
    match delivery {
        Delivery::Written {
            partition, offset, ..
        } => V2RecordOffset {
            partition: Some(partition),
            offset: Some(offset),
            error_code: None,
            error: None,
        },
        Delivery::Failed { retriable, message } => V2RecordOffset {
            partition: None,
            offset: None,
            error_code: Some(if retriable { 2 } else { 1 }),
            error: Some(message),
        },
    }
}

/// One record of a schema format, written with its key and value schemas.
fn encode(
    key_schema: &Resolved,
    value_schema: &Resolved,
    index: usize,
    raw: RawRecord,
) -> V2Result<OutgoingRecord> {
    Ok(OutgoingRecord {
        key: schemas::encode(key_schema, raw.key, index, "key")?,
        value: schemas::encode(value_schema, raw.value, index, "value")?,
        partition: raw.partition,
        ..Default::default()
    })
}

/// One record's key and value as bytes, or 422 naming the record.
fn decode(format: EmbeddedFormat, index: usize, raw: RawRecord) -> V2Result<OutgoingRecord> {
    let field = |name: &str, data: Option<Value>| -> V2Result<Option<Vec<u8>>> {
        match (format, data) {
            (_, None | Some(Value::Null)) => Ok(None),
            (EmbeddedFormat::Json, Some(v)) => Ok(Some(v.to_string().into_bytes())),
            (_, Some(Value::String(s))) => base64::engine::general_purpose::STANDARD
                .decode(s.as_bytes())
                .map(Some)
                .map_err(|e| {
                    V2Error::unprocessable(
                        INVALID_DATA,
                        format!("records[{index}].{name} is not valid base64: {e}"),
                    )
                }),
            (_, Some(_)) => Err(V2Error::unprocessable(
                INVALID_DATA,
                format!(
                    "records[{index}].{name} must be a base64 string in the binary format (or \
                     send Content-Type: application/vnd.kafka.json.v2+json)"
                ),
            )),
        }
    };
    Ok(OutgoingRecord {
        key: field("key", raw.key)?,
        value: field("value", raw.value)?,
        partition: raw.partition,
        ..Default::default()
    })
}
