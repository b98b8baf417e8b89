//! v2's payloads: a request body (JSON under any of the REST Proxy's
//! request content types, and the embedded format its `Content-Type`
//! names) and an answer (`V2Json`, JSON declared as v2's own type).
//!
//! Grammar of a v2 content type (case-insensitive):
//!
//! ```text
//! content-type = "application/vnd.kafka" [ "." format ] [ "." version ] "+json"
//!              | "application/json" | "application/octet-stream"
//! format       = "binary" | "json" | "avro" | "jsonschema" | "protobuf"
//! version      = "v1" | "v2"
//! ```
//!
//! A type that names no format means `binary`, as in the REST Proxy.

use poem::{FromRequest, IntoResponse, Request, RequestBody, Response, Result};
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ApiResponse, ExtractParamOptions,
    error::ParseRequestPayloadError,
    payload::{ParsePayload, Payload},
    registry::{MetaMediaType, MetaRequest, MetaResponse, MetaResponses, MetaSchemaRef, Registry},
    types::{ParseFromJSON, ToJSON, Type},
};

use super::V2_JSON;
use serde_json::Value;

/// The embedded format of a produce request's keys and values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmbeddedFormat {
    /// Base64 strings, produced as their decoded bytes.
    Binary,
    /// Any JSON value, produced as its JSON text.
    Json,
    /// Formats whose data is encoded with a schema from a schema registry.
    Avro,
    JsonSchema,
    Protobuf,
}

impl EmbeddedFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            EmbeddedFormat::Binary => "binary",
            EmbeddedFormat::Json => "json",
            EmbeddedFormat::Avro => "avro",
            EmbeddedFormat::JsonSchema => "jsonschema",
            EmbeddedFormat::Protobuf => "protobuf",
        }
    }

    /// The embedded format a request's content type names; `None` when it is
    /// not a v2 request content type at all (module doc).
    pub fn of_content_type(content_type: &str) -> Option<Self> {
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        if essence == "application/json" || essence == "application/octet-stream" {
            return Some(EmbeddedFormat::Binary);
        }
        let inner = essence
            .strip_prefix("application/vnd.kafka")?
            .strip_suffix("+json")?;
        let mut parts = inner.split('.').skip(1).peekable();
        if inner.is_empty() {
            return Some(EmbeddedFormat::Binary);
        }
        if !inner.starts_with('.') {
            return None;
        }
        let format = match parts.peek().copied() {
            Some("v1" | "v2") => EmbeddedFormat::Binary,
            Some(name) => {
                let format = match name {
                    "binary" => EmbeddedFormat::Binary,
                    "json" => EmbeddedFormat::Json,
                    "avro" => EmbeddedFormat::Avro,
                    "jsonschema" => EmbeddedFormat::JsonSchema,
                    "protobuf" => EmbeddedFormat::Protobuf,
                    _ => return None,
                };
                parts.next();
                format
            }
            None => return None,
        };
        match (parts.next(), parts.next()) {
            (None, _) | (Some("v1" | "v2"), None) => Some(format),
            _ => None,
        }
    }
}

/// A JSON body sent under one of v2's request content types.
#[derive(Debug)]
pub struct KafkaBody<T> {
    pub format: EmbeddedFormat,
    pub value: T,
}

impl<T: ParseFromJSON> Payload for KafkaBody<T> {
    const CONTENT_TYPE: &'static str = "application/vnd.kafka.binary.v2+json";

    fn check_content_type(content_type: &str) -> bool {
        EmbeddedFormat::of_content_type(content_type).is_some()
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: ParseFromJSON> ParsePayload for KafkaBody<T> {
    const IS_REQUIRED: bool = T::IS_REQUIRED;

    async fn from_request(request: &Request, body: &mut RequestBody) -> Result<Self> {
        let format = request
            .content_type()
            .and_then(EmbeddedFormat::of_content_type)
            .unwrap_or(EmbeddedFormat::Binary);
        let data = <Vec<u8> as FromRequest>::from_request(request, body).await?;
        if data.iter().all(u8::is_ascii_whitespace) {
            // An empty body is a value only for an optional one (the commit
            // of everything read); a required one is refused as missing.
            return T::parse_from_json(None)
                .map(|value| Self { format, value })
                .map_err(|err| {
                    ParseRequestPayloadError {
                        reason: err.into_message(),
                    }
                    .into()
                });
        }
        let value: Value =
            serde_json::from_slice(&data).map_err(|err| ParseRequestPayloadError {
                reason: err.to_string(),
            })?;
        let value = T::parse_from_json(Some(value)).map_err(|err| ParseRequestPayloadError {
            reason: err.into_message(),
        })?;
        Ok(Self { format, value })
    }
}

impl<'a, T: ParseFromJSON> ApiExtractor<'a> for KafkaBody<T> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];

    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        <Self as Payload>::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: None,
            // The document lists the two formats every cluster takes; the
            // other accepted types (module doc) are spellings of these, or
            // the schema formats, which only a cluster with a schema
            // registry takes (`schemas.rs`), so that a request the document
            // calls valid is never refused for the cluster's setting.
            content: [
                "application/vnd.kafka.binary.v2+json",
                "application/vnd.kafka.json.v2+json",
            ]
            .into_iter()
            .map(|content_type| MetaMediaType {
                content_type,
                schema: T::schema_ref(),
            })
            .collect(),
            required: T::IS_REQUIRED,
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> Result<Self> {
        match request.content_type() {
            Some(ct) if Self::check_content_type(ct) => {
                <Self as ParsePayload>::from_request(request, body).await
            }
            Some(ct) => Err(poem_openapi::error::ContentTypeError::NotSupported {
                content_type: ct.to_owned(),
            }
            .into()),
            // An optional body may be left out, type and all.
            None if !T::IS_REQUIRED => <Self as ParsePayload>::from_request(request, body).await,
            None => Err(poem_openapi::error::ContentTypeError::ExpectContentType.into()),
        }
    }
}

/// A 200 answer of JSON in `application/vnd.kafka.v2+json` (which
/// `middleware::kafka_accept` may respell as the client asks).
#[derive(Debug)]
pub struct V2Json<T>(pub T);

impl<T: Type> Payload for V2Json<T> {
    const CONTENT_TYPE: &'static str = V2_JSON;

    fn check_content_type(content_type: &str) -> bool {
        content_type.starts_with(V2_JSON)
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: ToJSON> IntoResponse for V2Json<T> {
    fn into_response(self) -> Response {
        let body = self.0.to_json().unwrap_or_default().to_string();
        Response::builder().content_type(V2_JSON).body(body)
    }
}

impl<T: ToJSON> ApiResponse for V2Json<T> {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: vec![MetaResponse {
                description: "",
                status: Some(200),
                status_range: None,
                content: vec![MetaMediaType {
                    content_type: V2_JSON,
                    schema: T::schema_ref(),
                }],
                headers: vec![],
            }],
        }
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

#[cfg(test)]
mod tests {
    use super::EmbeddedFormat::{self, *};

    #[test]
    fn content_types_name_their_format() {
        for (ct, format) in [
            ("application/vnd.kafka.binary.v2+json", Some(Binary)),
            ("application/vnd.kafka.json.v2+json", Some(Json)),
            (
                "application/vnd.kafka.JSON.V2+json; charset=utf-8",
                Some(Json),
            ),
            ("application/vnd.kafka.avro.v2+json", Some(Avro)),
            ("application/vnd.kafka.jsonschema.v2+json", Some(JsonSchema)),
            ("application/vnd.kafka.protobuf.v2+json", Some(Protobuf)),
            ("application/vnd.kafka.v2+json", Some(Binary)),
            ("application/vnd.kafka+json", Some(Binary)),
            ("application/vnd.kafka.json+json", Some(Json)),
            ("application/json", Some(Binary)),
            ("application/octet-stream", Some(Binary)),
            ("application/vnd.kafka.xml.v2+json", None),
            ("application/vnd.kafka.json.v3+json", None),
            ("application/vnd.kafkajson+json", None),
            ("text/plain", None),
        ] {
            assert_eq!(EmbeddedFormat::of_content_type(ct), format, "{ct}");
        }
    }
}
