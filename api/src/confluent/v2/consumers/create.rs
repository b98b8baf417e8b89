//! `POST /consumers/{group}`: a new consumer instance, held by the process
//! that answers (`ferry_service::consumers`). Its `base_uri` is built from
//! the address the client used: any ferry process behind it serves the
//! instance.
//!
//! Create settings are the REST Proxy's, given as strings (as its documents
//! show) or as JSON booleans and numbers:
//!
//! ```text
//! format                      = "binary" (default) | "json"
//!                             | "avro" | "jsonschema" | "protobuf"
//!                               (these need the cluster's schema registry: 40801)
//! auto.offset.reset           = "earliest" | "smallest" | "latest" | "largest" | "none"
//! auto.commit.enable          = "true" (default) | "false"
//! fetch.min.bytes             = integer >= 1, or -1 for none
//! consumer.request.timeout.ms = integer >= 0
//! ```
//!
//! Anything else is refused with `42204`; a group outside a project
//! token's prefix with `40301`.

use ferry_entity::{
    Role,
    consumer_instance::{ConsumerFormat, ConsumerSettings, OffsetReset},
};
use ferry_service::consumers::{ConsumerError, Key, NewInstance};
use poem::Request;
use poem_openapi::{Object, OpenApi, param::Path};
use serde_json::Value;

use super::{AUTHORIZATION, body};
use crate::{
    api_tags::ApiTags,
    auth::BearerAuth,
    confluent::{
        base_url, seg,
        v2::{V2Error, V2Result, body::KafkaBody, body::V2Json, open, schemas},
    },
    state::AppState,
};

#[derive(Debug, Object)]
pub struct V2CreateConsumer {
    /// The instance id; unset: a generated one.
    #[oai(nullable)]
    pub name: Option<String>,
    /// `binary` (default) or `json`.
    #[oai(nullable)]
    pub format: Option<String>,
    #[oai(rename = "auto.offset.reset", nullable)]
    pub auto_offset_reset: Option<Value>,
    #[oai(rename = "auto.commit.enable", nullable)]
    pub auto_commit_enable: Option<Value>,
    #[oai(rename = "fetch.min.bytes", nullable)]
    pub fetch_min_bytes: Option<Value>,
    #[oai(rename = "consumer.request.timeout.ms", nullable)]
    pub consumer_request_timeout_ms: Option<Value>,
}

#[derive(Debug, Object)]
pub struct V2ConsumerCreated {
    pub instance_id: String,
    /// Where the instance's routes are: any ferry process behind this
    /// address answers them.
    pub base_uri: String,
}

/// A create setting as a string, whether sent as one or as a JSON scalar.
fn setting(name: &str, value: &Option<Value>) -> Result<Option<String>, ConsumerError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_owned())),
        Some(Value::Bool(b)) => Ok(Some(b.to_string())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(other) => Err(ConsumerError::InvalidConfig(format!(
            "{name} must be a string, not {other}"
        ))),
    }
}

/// The create body's settings (module doc).
fn parse_settings(
    req: &V2CreateConsumer,
    name_prefix: Option<String>,
) -> Result<ConsumerSettings, ConsumerError> {
    let invalid = |name: &str, value: &str, allowed: &str| {
        ConsumerError::InvalidConfig(format!("{name} is '{value}'; it must be {allowed}"))
    };
    let auto_offset_reset = match setting("auto.offset.reset", &req.auto_offset_reset)?.as_deref() {
        None | Some("latest" | "largest") => OffsetReset::Latest,
        Some("earliest" | "smallest") => OffsetReset::Earliest,
        Some("none") => OffsetReset::None,
        Some(other) => {
            return Err(invalid(
                "auto.offset.reset",
                other,
                "earliest, smallest, latest, largest or none",
            ));
        }
    };
    let auto_commit = match setting("auto.commit.enable", &req.auto_commit_enable)?.as_deref() {
        None | Some("true") => true,
        Some("false") => false,
        Some(other) => return Err(invalid("auto.commit.enable", other, "true or false")),
    };
    let fetch_min_bytes = match setting("fetch.min.bytes", &req.fetch_min_bytes)? {
        None => None,
        Some(raw) => match raw.parse::<i64>() {
            Ok(-1) => None,
            Ok(n) if n >= 1 => Some(n as u64),
            _ => {
                return Err(invalid(
                    "fetch.min.bytes",
                    &raw,
                    "a whole number of at least 1, or -1",
                ));
            }
        },
    };
    let request_timeout_ms = match setting(
        "consumer.request.timeout.ms",
        &req.consumer_request_timeout_ms,
    )? {
        None => None,
        Some(raw) => match raw.parse::<u64>() {
            Ok(n) => Some(n),
            Err(_) => {
                return Err(invalid(
                    "consumer.request.timeout.ms",
                    &raw,
                    "a whole number of milliseconds",
                ));
            }
        },
    };
    Ok(ConsumerSettings {
        auto_offset_reset,
        auto_commit,
        fetch_min_bytes,
        request_timeout_ms,
        name_prefix,
    })
}

/// An instance or group name as a path segment: what it may hold.
fn check_name(what: &str, name: &str) -> Result<(), ConsumerError> {
    if name.is_empty() || name.len() > 255 || name.chars().any(|c| c.is_control() || c == '/') {
        return Err(ConsumerError::InvalidConfig(format!(
            "the {what} must be 1 to 255 characters, without '/' or control characters"
        )));
    }
    Ok(())
}

pub struct ConfluentV2ConsumerCreateApi;

#[OpenApi(tag = "ApiTags::ConfluentV2")]
impl ConfluentV2ConsumerCreateApi {
    /// Create a consumer instance in a group. Its `base_uri` works through
    /// any ferry process.
    #[oai(path = "/consumers/:group_name", method = "post")]
    async fn create(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        group_name: Path<String>,
        settings: KafkaBody<V2CreateConsumer>,
    ) -> V2Result<V2Json<V2ConsumerCreated>> {
        auth.0.require(Role::Client)?;
        let ctx = open(&state, req).await?;
        let group = group_name.0;
        check_name("group name", &group)?;
        if !ctx.sees(&group) {
            return Err(V2Error::Forbidden(body(
                AUTHORIZATION,
                format!("consumer group '{group}' is outside this token's project"),
            )));
        }
        let request = settings.value;
        let format = match request.format.as_deref().map(str::trim) {
            None | Some("binary") => ConsumerFormat::Binary,
            Some("json") => ConsumerFormat::Json,
            Some("avro") => ConsumerFormat::Avro,
            Some("jsonschema") => ConsumerFormat::JsonSchema,
            Some("protobuf") => ConsumerFormat::Protobuf,
            Some(other) => {
                return Err(ConsumerError::InvalidConfig(format!(
                    "format is '{other}'; it must be binary, json, avro, jsonschema or protobuf"
                ))
                .into());
            }
        };
        if schemas::reads_schemas(format) {
            schemas::registry(&ctx, format.as_str())?;
        }
        let prefix = ctx
            .identity
            .grant(ctx.cluster_id)
            .and_then(|g| g.topic_prefix.clone());
        let settings = parse_settings(&request, prefix)?;
        let name = match request.name {
            Some(name) => {
                check_name("instance name", &name)?;
                name
            }
            None => format!("ferry-consumer-{}", uuid::Uuid::new_v4().simple()),
        };
        let key = Key {
            cluster: ctx.cluster_id,
            group: group.clone(),
            name: name.clone(),
        };
        state
            .consumers
            .create(
                &state.store,
                &ctx.cluster,
                NewInstance {
                    key,
                    format,
                    settings,
                },
            )
            .await?;
        Ok(V2Json(V2ConsumerCreated {
            base_uri: format!(
                "{}/consumers/{}/instances/{}",
                base_url(req),
                seg(&group),
                seg(&name)
            ),
            instance_id: name,
        }))
    }
}
