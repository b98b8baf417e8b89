//! v3 produce's schema types (`AVRO`, `JSONSCHEMA`, `PROTOBUF`) over the
//! cluster's schema registry (`ferry_service::schema_registry`), as
//! Confluent's REST Proxy v3 takes them.
//!
//! Which schema a key or value is written with, in the order it is looked
//! for:
//!
//! ```text
//! schema_id       that schema (its type must be the one named, if any)
//! schema          registered under the subject (or found there); needs `type`
//! schema_version  that version of the subject
//! (none)          the subject's latest version (asked again after 5 s)
//! ```
//!
//! The subject is `subject` when given; else by `subject_name_strategy`:
//! `TOPIC_NAME` (the default) `{topic}-key` / `{topic}-value`, `RECORD_NAME`
//! the schema's record name, `TOPIC_RECORD_NAME` `{topic}-{record name}`
//! (the record-name strategies need the schema in full: the record's name
//! is read from it). A key or value naming a schema field without `type`
//! takes the registry's type of that schema.
//!
//! Refusals: 422 for a schema that does not parse, data that does not fit
//! it, or a schema of another type than named; a registry that refuses the
//! call 422 with its answer; one that cannot be reached or answers 5xx 503
//! (retriable).

use ferry_service::schema_registry::{ParsedSchema, SchemaError, SchemaKind, SchemaRegistry};
use poem_openapi::{Enum, types::ToJSON};
use serde_json::Value;

use super::{DataType, ProduceRequestData};
use crate::confluent::{ConfluentError, V3Result};

/// How a subject is named from the topic and the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum SubjectNameStrategy {
    /// `{topic}-key` or `{topic}-value`.
    #[oai(rename = "TOPIC_NAME")]
    Topic,
    /// The schema's record name.
    #[oai(rename = "RECORD_NAME")]
    Record,
    /// `{topic}-{record name}`.
    #[oai(rename = "TOPIC_RECORD_NAME")]
    TopicRecord,
}

/// A schema-backed key or value as written: its bytes, type and schema.
pub struct Written {
    pub bytes: Option<Vec<u8>>,
    pub type_: DataType,
    pub schema_id: i32,
    pub schema_version: Option<i32>,
}

/// Whether the data names a schema (or a schema type), so the registry is
/// involved.
pub fn is_schema_backed(data: &ProduceRequestData) -> bool {
    matches!(
        data.type_,
        Some(DataType::Avro | DataType::Jsonschema | DataType::Protobuf)
    ) || data.schema_id.is_some()
        || data.schema.is_some()
        || data.schema_version.is_some()
        || data.subject.is_some()
        || data.subject_name_strategy.is_some()
}

fn kind_of(type_: DataType) -> Option<SchemaKind> {
    match type_ {
        DataType::Avro => Some(SchemaKind::Avro),
        DataType::Jsonschema => Some(SchemaKind::Json),
        DataType::Protobuf => Some(SchemaKind::Protobuf),
        DataType::Binary | DataType::Json | DataType::String => None,
    }
}

fn type_of(kind: SchemaKind) -> DataType {
    match kind {
        SchemaKind::Avro => DataType::Avro,
        SchemaKind::Json => DataType::Jsonschema,
        SchemaKind::Protobuf => DataType::Protobuf,
    }
}

/// Writes a schema-backed key or value (module doc).
pub async fn write(
    registry: Option<&SchemaRegistry>,
    topic: &str,
    given: ProduceRequestData,
    field: &str,
) -> V3Result<Written> {
    let named = match given.type_ {
        None => None,
        Some(type_) => Some(kind_of(type_).ok_or_else(|| {
            ConfluentError::invalid(format!(
                "{field}: schema_id, schema, schema_version, subject and \
                 subject_name_strategy apply to AVRO, JSONSCHEMA and PROTOBUF, not {}",
                type_.to_json().unwrap_or_default()
            ))
        })?),
    };
    let registry = registry.ok_or_else(|| {
        ConfluentError::invalid(format!(
            "{field}: a schema type needs the cluster's schema registry, and the cluster has \
             none: register one with PUT /api/v1/clusters/{{id}} {{\"schemaRegistry\":{{\"url\":\
             ...}}}}, or use BINARY, JSON or STRING"
        ))
    })?;
    let refuse = |e: SchemaError| refusal(e, field);
    let (schema_id, schema_version, schema) = match (&given.schema_id, &given.schema) {
        (Some(id), _) => (*id, None, registry.schema(*id).await.map_err(refuse)?),
        (None, Some(text)) => {
            let kind = named.ok_or_else(|| {
                ConfluentError::invalid(format!(
                    "{field}: a schema given in full needs its type (AVRO, JSONSCHEMA or \
                     PROTOBUF)"
                ))
            })?;
            let subject = subject(&given, topic, field, Some((kind, text)))?;
            let (id, schema) = registry
                .register(&subject, kind, text)
                .await
                .map_err(refuse)?;
            (id, None, schema)
        }
        (None, None) => {
            let subject = subject(&given, topic, field, None)?;
            let (id, version, schema) = registry
                .version(&subject, given.schema_version)
                .await
                .map_err(refuse)?;
            (id, Some(version), schema)
        }
    };
    if let Some(kind) = named
        && kind != schema.kind()
    {
        return Err(ConfluentError::invalid(format!(
            "{field}: schema {schema_id} is {}, not {}",
            schema.kind().registry_name(),
            kind.registry_name()
        )));
    }
    let bytes = match given.data {
        None | Some(Value::Null) => None,
        Some(value) => Some(schema.encode(schema_id, &value).map_err(refuse)?),
    };
    Ok(Written {
        bytes,
        type_: type_of(schema.kind()),
        schema_id,
        schema_version,
    })
}

/// The subject of a key or value (module doc); `text` is the schema in
/// full, when given, which only the record-name strategies parse (a
/// registered schema is parsed once, by the registry client, not for every
/// record).
fn subject(
    given: &ProduceRequestData,
    topic: &str,
    field: &str,
    text: Option<(SchemaKind, &str)>,
) -> V3Result<String> {
    if let Some(subject) = &given.subject {
        return Ok(subject.clone());
    }
    let strategy = given
        .subject_name_strategy
        .unwrap_or(SubjectNameStrategy::Topic);
    if strategy == SubjectNameStrategy::Topic {
        return Ok(format!("{topic}-{field}"));
    }
    let parsed = text
        .map(|(kind, text)| ParsedSchema::parse(kind, text))
        .transpose()
        .map_err(|e| refusal(e, field))?;
    let record = parsed
        .as_ref()
        .and_then(ParsedSchema::record_name)
        .ok_or_else(|| {
            ConfluentError::invalid(format!(
                "{field}: subject_name_strategy {} names the subject after the schema's \
             record: send the schema in full (a named Avro type, a Protobuf message, a JSON \
             Schema with a title), or the subject",
                strategy.to_json().unwrap_or_default()
            ))
        })?;
    Ok(match strategy {
        SubjectNameStrategy::Record => record,
        _ => format!("{topic}-{record}"),
    })
}

fn refusal(err: SchemaError, field: &str) -> ConfluentError {
    match err {
        SchemaError::Registry {
            message,
            retriable: true,
        } => ConfluentError::Unavailable(crate::confluent::body(
            503,
            format!("{field}: the schema registry {message}; try again"),
        )),
        other => ConfluentError::invalid(format!("{field}: {other}")),
    }
}
