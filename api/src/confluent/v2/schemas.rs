//! The schema formats (`avro`, `jsonschema`, `protobuf`) of v2 produce and
//! consume, over the cluster's schema registry
//! (`ferry_service::schema_registry`).
//!
//! A produce request names each schema in full (`key_schema`,
//! `value_schema`: registered under `{topic}-key` or `{topic}-value`, or
//! found there) or by id (`key_schema_id`, `value_schema_id`: read from the
//! registry); the answer carries the ids. Refusals, in the order the REST
//! Proxy checks them: `42201`/`42202` keys or values without a schema,
//! `40801` (408) no registry, or the registry failed or does not know an id,
//! `42205` a schema that does not parse or a record that does not fit it.

use std::sync::Arc;

use ferry_entity::consumer_instance::ConsumerFormat;
use ferry_service::schema_registry::{ParsedSchema, SchemaError, SchemaKind, SchemaRegistry};
use serde_json::Value;

use super::{
    INVALID_DATA, KEY_SCHEMA_MISSING, SCHEMA_REGISTRY, V2Error, V2Result, VALUE_SCHEMA_MISSING,
    body::EmbeddedFormat,
    produce::{RawRecord, V2SchemaFields},
};
use crate::confluent::{Ctx, error::body as error_body};

/// The kind of schema an embedded format's data is written with.
pub fn kind_of(format: EmbeddedFormat) -> Option<SchemaKind> {
    match format {
        EmbeddedFormat::Binary | EmbeddedFormat::Json => None,
        EmbeddedFormat::Avro => Some(SchemaKind::Avro),
        EmbeddedFormat::JsonSchema => Some(SchemaKind::Json),
        EmbeddedFormat::Protobuf => Some(SchemaKind::Protobuf),
    }
}

/// Whether an instance of this format reads through the registry.
pub fn reads_schemas(format: ConsumerFormat) -> bool {
    match format {
        ConsumerFormat::Binary | ConsumerFormat::Json => false,
        ConsumerFormat::Avro | ConsumerFormat::JsonSchema | ConsumerFormat::Protobuf => true,
    }
}

/// The schema a record's key or value is written with, and its id.
pub type Resolved = Option<(i32, Arc<ParsedSchema>)>;

/// The cluster's registry, or `40801` naming the format.
pub fn registry<'c>(ctx: &'c Ctx, format: &str) -> V2Result<&'c SchemaRegistry> {
    ctx.cluster.schema_registry().ok_or_else(|| {
        V2Error::RequestTimeout(error_body(
            SCHEMA_REGISTRY,
            format!(
                "the {format} format needs a schema registry, and cluster {} has none: register \
                 one with PUT /api/v1/clusters/{} {{\"schemaRegistry\":{{\"url\":...}}}}, or \
                 use the binary or json format",
                ctx.cluster_id, ctx.cluster_id
            ),
        ))
    })
}

/// The key and value schemas of a produce request (module doc).
pub async fn for_produce(
    ctx: &Ctx,
    topic: &str,
    format: EmbeddedFormat,
    kind: SchemaKind,
    fields: &V2SchemaFields,
    records: &[RawRecord],
) -> V2Result<(Resolved, Resolved)> {
    let has = |v: &Option<Value>| v.as_ref().is_some_and(|v| !v.is_null());
    let keyed = records.iter().any(|r| has(&r.key));
    let valued = records.iter().any(|r| has(&r.value));
    if keyed && fields.key_schema.is_none() && fields.key_schema_id.is_none() {
        return Err(V2Error::unprocessable(
            KEY_SCHEMA_MISSING,
            "Request includes keys but does not include key schema",
        ));
    }
    if valued && fields.value_schema.is_none() && fields.value_schema_id.is_none() {
        return Err(V2Error::unprocessable(
            VALUE_SCHEMA_MISSING,
            "Request includes values but does not include value schema",
        ));
    }
    let registry = registry(ctx, format.as_str())?;
    let key = one(
        registry,
        kind,
        &format!("{topic}-key"),
        fields.key_schema.as_deref(),
        fields.key_schema_id,
        "key",
    )
    .await?;
    let value = one(
        registry,
        kind,
        &format!("{topic}-value"),
        fields.value_schema.as_deref(),
        fields.value_schema_id,
        "value",
    )
    .await?;
    Ok((key, value))
}

async fn one(
    registry: &SchemaRegistry,
    kind: SchemaKind,
    subject: &str,
    text: Option<&str>,
    id: Option<i32>,
    what: &str,
) -> V2Result<Resolved> {
    let resolved = match (id, text) {
        (Some(id), _) => {
            let schema = registry
                .schema(id)
                .await
                .map_err(|e| refusal(e, &format!("{what}_schema_id")))?;
            if schema.kind() != kind {
                return Err(V2Error::unprocessable(
                    INVALID_DATA,
                    format!(
                        "{what}_schema_id {id} is a {} schema, not {}",
                        schema.kind().registry_name(),
                        kind.registry_name()
                    ),
                ));
            }
            (id, schema)
        }
        (None, Some(text)) => registry
            .register(subject, kind, text)
            .await
            .map_err(|e| refusal(e, &format!("{what}_schema")))?,
        (None, None) => return Ok(None),
    };
    Ok(Some(resolved))
}

/// A record's key or value written with its schema.
pub fn encode(
    schema: &Resolved,
    data: Option<Value>,
    index: usize,
    what: &str,
) -> V2Result<Option<Vec<u8>>> {
    match (data, schema) {
        (None | Some(Value::Null), _) => Ok(None),
        (Some(value), Some((id, schema))) => schema
            .encode(*id, &value)
            .map(Some)
            .map_err(|e| refusal(e, &format!("records[{index}].{what}"))),
        // `for_produce` refused data without a schema.
        (Some(_), None) => Err(V2Error::unprocessable(
            INVALID_DATA,
            format!("records[{index}].{what} has no schema"),
        )),
    }
}

/// A record's key or value read through the registry, or why not, naming
/// where the record is.
pub async fn decode(
    registry: &SchemaRegistry,
    bytes: &[u8],
    what: &str,
    at: &(dyn Fn() -> String + Sync),
) -> V2Result<Value> {
    registry.decode(bytes).await.map_err(|e| match e {
        SchemaError::Registry { .. } => {
            refusal(e, &format!("the {what} of the record at {}", at()))
        }
        other => V2Error::from(crate::confluent::ConfluentError::kafka_failure(
            false,
            format!(
                "the {what} of the record at {} does not read with its schema ({other}); \
                     read it with a binary instance, or seek past it with positions",
                at()
            ),
        )),
    })
}

/// A schema error as the REST Proxy's code for it.
fn refusal(err: SchemaError, place: &str) -> V2Error {
    match err {
        SchemaError::Registry { message, .. } => V2Error::RequestTimeout(error_body(
            SCHEMA_REGISTRY,
            format!("Schema registration or lookup failed: {place}: the schema registry {message}"),
        )),
        SchemaError::InvalidSchema { .. } => V2Error::unprocessable(
            INVALID_DATA,
            format!("Request includes invalid schema: {place}: {err}"),
        ),
        SchemaError::InvalidData(_) | SchemaError::NotFramed(_) => {
            V2Error::unprocessable(INVALID_DATA, format!("{place}: {err}"))
        }
    }
}
