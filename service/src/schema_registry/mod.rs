//! A Kafka cluster's schema registry (Confluent's Schema Registry API, which
//! Karapace, Apicurio's `ccompat` and Redpanda serve too), for the REST
//! Proxy dialects' `avro`, `jsonschema` and `protobuf` embedded formats.
//!
//! # Interface
//! - `SchemaRegistry::register(subject, kind, text)`: registers a schema
//!   under a subject (or finds it registered) and answers its id with the
//!   parsed schema; `SchemaRegistry::schema(id)`: the schema of an id.
//! - `ParsedSchema::encode(id, value)`: a JSON value as the record bytes
//!   Confluent's serializers write; `SchemaRegistry::decode(bytes)`: record
//!   bytes as JSON, in the REST Proxy's embedding of each format.
//!
//! The wire format of a record (Confluent's): a zero byte, the schema id as
//! four big-endian bytes, then the data: Avro's binary encoding; the JSON
//! text for JSON Schema; for Protobuf, the path of the message type within
//! the schema (`protobuf::message_indexes`) and the message's encoding.
//!
//! A registry is read through `SchemaRegistry`, one per cluster client, so
//! its caches live as long as the cluster's registration is unchanged: ids
//! never change meaning in a registry, and a subject's id for a schema text
//! is fixed once registered.
//!
//! Subjects follow the REST Proxy's default, TopicNameStrategy:
//! `{topic}-key` and `{topic}-value`.

use std::{sync::Arc, time::Duration};

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::Value;

mod avro;
mod json_schema;
mod protobuf;
pub mod settings;

pub use settings::SchemaRegistrySettings;

/// The kinds of schema a registry holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SchemaKind {
    Avro,
    Json,
    Protobuf,
}

impl SchemaKind {
    /// The registry's `schemaType` name.
    pub fn registry_name(self) -> &'static str {
        match self {
            SchemaKind::Avro => "AVRO",
            SchemaKind::Json => "JSON",
            SchemaKind::Protobuf => "PROTOBUF",
        }
    }

    fn from_registry_name(name: Option<&str>) -> Option<Self> {
        match name {
            None | Some("AVRO") => Some(SchemaKind::Avro),
            Some("JSON") => Some(SchemaKind::Json),
            Some("PROTOBUF") => Some(SchemaKind::Protobuf),
            Some(_) => None,
        }
    }
}

/// Why a schema format could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// The schema text does not parse as its kind.
    #[error("the schema is not valid {kind}: {reason}")]
    InvalidSchema { kind: &'static str, reason: String },
    /// A value does not fit its schema, or record bytes do not decode.
    #[error("{0}")]
    InvalidData(String),
    /// Record bytes that are not in the registry's wire format.
    #[error("the data is not in the schema registry's wire format: {0}")]
    NotFramed(&'static str),
    /// The registry could not be reached, or answered with an error.
    #[error("the schema registry {message}")]
    Registry {
        message: String,
        /// Whether the same call may succeed later: the registry could not
        /// be reached or answered 5xx (not: it refused the call).
        retriable: bool,
    },
}

/// A schema, parsed; what encodes and decodes a record's key or value.
pub enum ParsedSchema {
    Avro(avro::AvroSchema),
    Json(json_schema::JsonSchema),
    Protobuf(protobuf::ProtobufSchema),
}

impl ParsedSchema {
    /// Parses schema text of a kind.
    pub fn parse(kind: SchemaKind, text: &str) -> Result<Self, SchemaError> {
        match kind {
            SchemaKind::Avro => avro::AvroSchema::parse(text).map(Self::Avro),
            SchemaKind::Json => json_schema::JsonSchema::parse(text).map(Self::Json),
            SchemaKind::Protobuf => protobuf::ProtobufSchema::parse(text).map(Self::Protobuf),
        }
    }

    pub fn kind(&self) -> SchemaKind {
        match self {
            ParsedSchema::Avro(_) => SchemaKind::Avro,
            ParsedSchema::Json(_) => SchemaKind::Json,
            ParsedSchema::Protobuf(_) => SchemaKind::Protobuf,
        }
    }

    /// The name of the record the schema describes, for the record-name
    /// subject strategies: a named Avro type's full name, the Protobuf
    /// message's full name, a JSON Schema's `title`.
    pub fn record_name(&self) -> Option<String> {
        match self {
            ParsedSchema::Avro(s) => s.record_name(),
            ParsedSchema::Json(s) => s.record_name(),
            ParsedSchema::Protobuf(s) => Some(s.record_name()),
        }
    }

    /// `value` as record bytes in the wire format, under schema `id`.
    pub fn encode(&self, id: i32, value: &Value) -> Result<Vec<u8>, SchemaError> {
        let mut out = Vec::with_capacity(64);
        out.push(MAGIC);
        out.extend_from_slice(&id.to_be_bytes());
        match self {
            ParsedSchema::Avro(s) => s.encode(value, &mut out)?,
            ParsedSchema::Json(s) => s.encode(value, &mut out)?,
            ParsedSchema::Protobuf(s) => s.encode(value, &mut out)?,
        }
        Ok(out)
    }

    /// The data of a record (after its five-byte header) as JSON.
    fn decode(&self, data: &[u8]) -> Result<Value, SchemaError> {
        match self {
            ParsedSchema::Avro(s) => s.decode(data),
            ParsedSchema::Json(s) => s.decode(data),
            ParsedSchema::Protobuf(s) => s.decode(data),
        }
    }
}

/// The first byte of every record in the wire format.
const MAGIC: u8 = 0;

/// How long a registry call may take before it counts as failed.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// A client of one cluster's registry, with its caches.
pub struct SchemaRegistry {
    http: reqwest::Client,
    /// Checked at registration (`settings.rs`): http or https, with a host.
    url: reqwest::Url,
    username: Option<String>,
    password: Option<SecretString>,
    /// (subject, kind, schema text) -> id, for schemas sent in full.
    registered: moka::sync::Cache<(String, SchemaKind, String), i32>,
    /// id -> schema.
    by_id: moka::sync::Cache<i32, Arc<ParsedSchema>>,
    /// (subject, version) -> (id, version, schema).
    versions: moka::sync::Cache<(String, Option<i32>), Versioned>,
    /// (subject, None) -> its latest (id, version, schema), for `LATEST_TTL`.
    latest: moka::sync::Cache<(String, Option<i32>), Versioned>,
}

/// A subject's version: its schema's id, the version number, the schema.
type Versioned = (i32, i32, Arc<ParsedSchema>);

/// How long a subject's latest version is used before it is asked again:
/// a record produced without a schema takes its subject's latest, and
/// asking the registry for every record would cost a call each.
pub const LATEST_TTL: Duration = Duration::from_secs(5);

/// A registry's error answer (`{error_code, message}`).
#[derive(Deserialize)]
struct RegistryErrorBody {
    #[serde(default)]
    error_code: Option<i64>,
    #[serde(default)]
    message: Option<String>,
}

#[derive(Serialize)]
struct RegisterRequest<'a> {
    schema: &'a str,
    #[serde(rename = "schemaType", skip_serializing_if = "Option::is_none")]
    schema_type: Option<&'static str>,
}

#[derive(Deserialize)]
struct RegisterAnswer {
    id: i32,
}

#[derive(Deserialize)]
struct VersionAnswer {
    id: i32,
    version: i32,
    schema: String,
    #[serde(rename = "schemaType", default)]
    schema_type: Option<String>,
}

#[derive(Deserialize)]
struct SchemaAnswer {
    schema: String,
    #[serde(rename = "schemaType", default)]
    schema_type: Option<String>,
}

impl SchemaRegistry {
    pub fn new(settings: &SchemaRegistrySettings, password: Option<SecretString>) -> Self {
        Self {
            http: reqwest::Client::builder()
                .timeout(CALL_TIMEOUT)
                .build()
                .expect("an HTTP client with a timeout builds"),
            url: settings.parsed_url(),
            username: settings.username.clone(),
            password,
            registered: moka::sync::Cache::builder().max_capacity(10_000).build(),
            by_id: moka::sync::Cache::builder().max_capacity(10_000).build(),
            versions: moka::sync::Cache::builder().max_capacity(10_000).build(),
            latest: moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(LATEST_TTL)
                .build(),
        }
    }

    /// Registers `text` under `subject` (the registry answers the existing
    /// id when the subject already has it) and answers its id and parsed
    /// schema. The schema is parsed first, so text that is not a schema is
    /// refused without a registry call.
    pub async fn register(
        &self,
        subject: &str,
        kind: SchemaKind,
        text: &str,
    ) -> Result<(i32, Arc<ParsedSchema>), SchemaError> {
        let key = (subject.to_owned(), kind, text.to_owned());
        if let Some(id) = self.registered.get(&key)
            && let Some(schema) = self.by_id.get(&id)
        {
            return Ok((id, schema));
        }
        let schema = Arc::new(ParsedSchema::parse(kind, text)?);
        let body = RegisterRequest {
            schema: text,
            schema_type: (kind != SchemaKind::Avro).then(|| kind.registry_name()),
        };
        let answer: RegisterAnswer = self
            .call(
                self.request(reqwest::Method::POST, &["subjects", subject, "versions"])
                    .json(&body),
            )
            .await
            .map_err(|e| e.during(&format!("registering the schema under '{subject}'")))?;
        self.registered.insert(key, answer.id);
        self.by_id.insert(answer.id, schema.clone());
        Ok((answer.id, schema))
    }

    /// The schema registered with `id`.
    pub async fn schema(&self, id: i32) -> Result<Arc<ParsedSchema>, SchemaError> {
        if let Some(schema) = self.by_id.get(&id) {
            return Ok(schema);
        }
        let answer: SchemaAnswer = self
            .call(self.request(reqwest::Method::GET, &["schemas", "ids", &id.to_string()]))
            .await
            .map_err(|e| e.during(&format!("reading schema {id}")))?;
        let kind =
            SchemaKind::from_registry_name(answer.schema_type.as_deref()).ok_or_else(|| {
                SchemaError::Registry {
                    message: format!(
                        "holds schema {id} of type {}, which ferry does not read",
                        answer.schema_type.as_deref().unwrap_or_default()
                    ),
                    retriable: false,
                }
            })?;
        let schema = Arc::new(ParsedSchema::parse(kind, &answer.schema)?);
        self.by_id.insert(id, schema.clone());
        Ok(schema)
    }

    /// A subject's schema at `version` (`None`: its latest), with its id
    /// and version number. A version never changes and is kept; the latest
    /// is asked again after `LATEST_TTL`.
    pub async fn version(
        &self,
        subject: &str,
        version: Option<i32>,
    ) -> Result<Versioned, SchemaError> {
        let key = (subject.to_owned(), version);
        let known = match version {
            Some(_) => self.versions.get(&key),
            None => self.latest.get(&key),
        };
        if let Some(found) = known {
            return Ok(found);
        }
        let segment = version.map_or_else(|| "latest".to_owned(), |v| v.to_string());
        let answer: VersionAnswer = self
            .call(self.request(
                reqwest::Method::GET,
                &["subjects", subject, "versions", &segment],
            ))
            .await
            .map_err(|e| e.during(&format!("reading version {segment} of '{subject}'")))?;
        let schema = match self.by_id.get(&answer.id) {
            Some(known) => known,
            None => {
                let kind = SchemaKind::from_registry_name(answer.schema_type.as_deref())
                    .ok_or_else(|| SchemaError::Registry {
                        message: format!(
                            "holds '{subject}' of type {}, which ferry does not read",
                            answer.schema_type.as_deref().unwrap_or_default()
                        ),
                        retriable: false,
                    })?;
                let parsed = Arc::new(ParsedSchema::parse(kind, &answer.schema)?);
                self.by_id.insert(answer.id, parsed.clone());
                parsed
            }
        };
        let found = (answer.id, answer.version, schema);
        match version {
            Some(_) => self.versions.insert(key, found.clone()),
            None => self.latest.insert(key, found.clone()),
        }
        Ok(found)
    }

    /// Record bytes in the wire format as JSON.
    pub async fn decode(&self, bytes: &[u8]) -> Result<Value, SchemaError> {
        let (id, data) = unframe(bytes)?;
        self.schema(id).await?.decode(data)
    }

    /// A call to the registry's path `segments` under its URL (each one
    /// percent-encoded: a subject may hold any character).
    fn request(&self, method: reqwest::Method, segments: &[&str]) -> reqwest::RequestBuilder {
        let mut url = self.url.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        let request = self
            .http
            .request(method, url)
            .header("accept", "application/vnd.schemaregistry.v1+json");
        match &self.username {
            Some(user) => request.basic_auth(
                user,
                self.password.as_ref().map(|p| p.expose_secret().to_owned()),
            ),
            None => request,
        }
    }

    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, CallError> {
        let response = request.send().await.map_err(|e| CallError {
            // reqwest's message names the URL, which holds no secret (basic
            // auth travels in a header).
            message: format!("at {} could not be reached: {e}", self.url),
            retriable: true,
        })?;
        let status = response.status();
        let text = response.text().await.map_err(|e| CallError {
            message: format!("answer could not be read: {e}"),
            retriable: true,
        })?;
        if !status.is_success() {
            let detail = serde_json::from_str::<RegistryErrorBody>(&text)
                .ok()
                .map(|b| match (b.error_code, b.message) {
                    (Some(code), Some(m)) => format!("{m} (error {code})"),
                    (_, Some(m)) => m,
                    (Some(code), None) => format!("error {code}"),
                    (None, None) => text.chars().take(200).collect(),
                })
                .unwrap_or_else(|| text.chars().take(200).collect());
            return Err(CallError {
                message: format!("answered {status}: {detail}"),
                retriable: status.is_server_error(),
            });
        }
        serde_json::from_str(&text).map_err(|e| CallError {
            message: format!("answered with a body ferry cannot read: {e}"),
            retriable: false,
        })
    }
}

/// A failed registry call, before it is said what the call was for.
struct CallError {
    message: String,
    retriable: bool,
}

impl CallError {
    fn during(self, what: &str) -> SchemaError {
        SchemaError::Registry {
            message: format!("{}, {what}", self.message),
            retriable: self.retriable,
        }
    }
}

/// The schema id and the data of record bytes in the wire format.
fn unframe(bytes: &[u8]) -> Result<(i32, &[u8]), SchemaError> {
    match bytes {
        [MAGIC, a, b, c, d, data @ ..] => Ok((i32::from_be_bytes([*a, *b, *c, *d]), data)),
        [MAGIC, ..] => Err(SchemaError::NotFramed(
            "it is shorter than its 5-byte header",
        )),
        _ => Err(SchemaError::NotFramed("its first byte is not 0")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_holds_the_id() {
        let schema = ParsedSchema::parse(SchemaKind::Json, "{}").unwrap();
        let bytes = schema.encode(258, &serde_json::json!({"a": 1})).unwrap();
        assert_eq!(&bytes[..5], &[0, 0, 0, 1, 2]);
        let (id, data) = unframe(&bytes).unwrap();
        assert_eq!(id, 258);
        assert_eq!(data, br#"{"a":1}"#);
        assert!(matches!(unframe(&[1, 0]), Err(SchemaError::NotFramed(_))));
        assert!(matches!(unframe(&[0, 0]), Err(SchemaError::NotFramed(_))));
    }
}
