//! REST Proxy v2 consumers: `POST /consumers/{group}` creates an instance;
//! `/consumers/{group}/instances/{instance}` and its `subscription`,
//! `assignments`, `positions[/beginning|/end]`, `offsets` and `records`
//! (`records.rs`) use it; `DELETE` removes it.
//!
//! Unlike the REST Proxy, any `ferry-api` process answers for any instance
//! (`ferry_service::consumers`; forwarding in `forward.rs`, a middleware),
//! so `base_uri` is built from the address the client used and needs no
//! sticky load balancer.
//!
//! Create settings are the REST Proxy's, given as strings (as its documents
//! show) or as JSON booleans and numbers:
//!
//! ```text
//! format                      = "binary" (default) | "json"
//!                               ("avro" | "jsonschema" | "protobuf": 40801)
//! auto.offset.reset           = "earliest" | "smallest" | "latest" | "largest" | "none"
//! auto.commit.enable          = "true" (default) | "false"
//! fetch.min.bytes             = integer >= 1, or -1 for none
//! consumer.request.timeout.ms = integer >= 0
//! ```
//!
//! Anything else is refused with `42204`. A project token reaches only
//! groups and topics under its project's prefix: another group's instances
//! are not found (`40403`), another project's topics are refused (`40301`).

use ferry_entity::{
    Role,
    consumer_instance::{ConsumerSettings, OffsetReset, Subscription, TopicPartition},
};
use ferry_service::consumers::{ConsumerError, Instance, Key, NewInstance, SeekTo};
use poem::Request;
use poem_openapi::{ApiResponse, Object, OpenApi, param::Path, payload::Json};
use serde_json::Value;
use std::sync::Arc;

use super::{SCHEMA_REGISTRY, V2Error, V2Result, body::KafkaBody, body::V2Json, open};
use crate::{
    api_tags::ApiTags,
    auth::BearerAuth,
    confluent::{ConfluentError, Ctx, ErrorBody, base_url, seg},
    state::AppState,
};

pub mod forward;
pub mod records;

pub const INSTANCE_NOT_FOUND: i32 = 40403;
pub const INSTANCE_EXISTS: i32 = 40902;
pub const EXCLUSIVE: i32 = 40903;
pub const INVALID_CONFIG: i32 = 42204;
pub const FORMAT_MISMATCH: i32 = 40601;
pub const AUTHORIZATION: i32 = 40301;

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

#[derive(Debug, Object)]
pub struct V2Subscribe {
    /// Topic names; excludes `topic_pattern`.
    #[oai(nullable, validator(min_items = 1))]
    pub topics: Option<Vec<String>>,
    /// A regular expression whole topic names must match; excludes
    /// `topics`.
    #[oai(nullable)]
    pub topic_pattern: Option<String>,
}

#[derive(Debug, Object)]
pub struct V2Topics {
    pub topics: Vec<String>,
}

#[derive(Debug, Object, Clone)]
pub struct V2TopicPartition {
    pub topic: String,
    #[oai(validator(minimum(value = "0")))]
    pub partition: i32,
}

#[derive(Debug, Object)]
pub struct V2Partitions {
    pub partitions: Vec<V2TopicPartition>,
}

#[derive(Debug, Object)]
pub struct V2PartitionOffset {
    pub topic: String,
    #[oai(validator(minimum(value = "0")))]
    pub partition: i32,
    #[oai(validator(minimum(value = "0")))]
    pub offset: i64,
    /// Kept with a committed offset.
    #[oai(nullable)]
    pub metadata: Option<String>,
}

#[derive(Debug, Object)]
pub struct V2Offsets {
    pub offsets: Vec<V2PartitionOffset>,
}

#[derive(Debug, Object)]
pub struct V2CommittedOffset {
    pub topic: String,
    pub partition: i32,
    /// The next offset the group reads.
    pub offset: i64,
    pub metadata: String,
}

#[derive(Debug, Object)]
pub struct V2CommittedOffsets {
    pub offsets: Vec<V2CommittedOffset>,
}

/// `204 No Content`.
#[derive(Debug, ApiResponse)]
pub enum NoContent {
    #[oai(status = 204)]
    Done,
}

fn body(code: i32, message: impl Into<String>) -> Json<ErrorBody> {
    Json(ErrorBody {
        error_code: code,
        message: message.into(),
    })
}

impl From<ConsumerError> for V2Error {
    fn from(err: ConsumerError) -> Self {
        let message = err.to_string();
        match err {
            ConsumerError::NotFound => {
                V2Error::NotFound(body(INSTANCE_NOT_FOUND, "Consumer instance not found."))
            }
            ConsumerError::Exists => V2Error::Conflict(body(INSTANCE_EXISTS, message)),
            ConsumerError::Exclusive => V2Error::Conflict(body(EXCLUSIVE, message)),
            ConsumerError::InvalidConfig(_) => V2Error::unprocessable(INVALID_CONFIG, message),
            ConsumerError::NotAssigned(_) => V2Error::NotFound(body(40402, message)),
            ConsumerError::Moved => ConfluentError::kafka_failure(true, message).into(),
            ConsumerError::Kafka(err) => {
                ConfluentError::kafka("the consumer instance's Kafka call failed", err).into()
            }
            ConsumerError::Store(err) => ConfluentError::store(err).into(),
        }
    }
}

/// The caller's cluster and the instance key of a path, or 40403 for a
/// group the caller does not reach.
async fn locate(state: &AppState, req: &Request, group: &str, name: &str) -> V2Result<(Ctx, Key)> {
    let ctx = open(state, req).await?;
    if !ctx.sees(group) {
        return Err(ConsumerError::NotFound.into());
    }
    let key = Key {
        cluster: ctx.cluster_id,
        group: group.to_owned(),
        name: name.to_owned(),
    };
    Ok((ctx, key))
}

/// The instance of a path, served by this process (taken over if need be).
pub async fn serve(
    state: &AppState,
    req: &Request,
    group: &str,
    name: &str,
) -> V2Result<(Ctx, Arc<Instance>)> {
    let (ctx, key) = locate(state, req, group, name).await?;
    let instance = state
        .consumers
        .instance(&state.store, &ctx.cluster, &key)
        .await?;
    Ok((ctx, instance))
}

/// Topics a project token may not read are refused by name.
fn may_read(ctx: &Ctx, topics: impl IntoIterator<Item = impl AsRef<str>>) -> V2Result<()> {
    for topic in topics {
        let topic = topic.as_ref();
        if !ctx.sees(topic) {
            return Err(V2Error::Forbidden(body(
                AUTHORIZATION,
                format!("topic '{topic}' is outside this token's project"),
            )));
        }
    }
    Ok(())
}

fn partitions(list: &[V2TopicPartition]) -> Vec<TopicPartition> {
    list.iter()
        .map(|p| TopicPartition {
            topic: p.topic.clone(),
            partition: p.partition,
        })
        .collect()
}

fn views(list: Vec<TopicPartition>) -> Vec<V2TopicPartition> {
    list.into_iter()
        .map(|p| V2TopicPartition {
            topic: p.topic,
            partition: p.partition,
        })
        .collect()
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

pub struct ConfluentV2ConsumersApi;

#[OpenApi(tag = "ApiTags::ConfluentV2")]
impl ConfluentV2ConsumersApi {
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
            None | Some("binary") => ferry_entity::consumer_instance::ConsumerFormat::Binary,
            Some("json") => ferry_entity::consumer_instance::ConsumerFormat::Json,
            Some(schema @ ("avro" | "jsonschema" | "protobuf")) => {
                return Err(V2Error::RequestTimeout(body(
                    SCHEMA_REGISTRY,
                    format!(
                        "the {schema} format needs a schema registry, and this cluster has \
                         none; use binary or json"
                    ),
                )));
            }
            Some(other) => {
                return Err(ConsumerError::InvalidConfig(format!(
                    "format is '{other}'; it must be binary or json"
                ))
                .into());
            }
        };
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

    /// Remove a consumer instance: it leaves its group.
    #[oai(path = "/consumers/:group_name/instances/:instance", method = "delete")]
    async fn delete(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        group_name: Path<String>,
        instance: Path<String>,
    ) -> V2Result<NoContent> {
        auth.0.require(Role::Client)?;
        let (_, key) = locate(&state, req, &group_name.0, &instance.0).await?;
        state.consumers.delete(&state.store, &key).await?;
        Ok(NoContent::Done)
    }

    /// Subscribe to topics, or to the topics a pattern matches.
    #[oai(
        path = "/consumers/:group_name/instances/:instance/subscription",
        method = "post"
    )]
    async fn subscribe(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        group_name: Path<String>,
        instance: Path<String>,
        body: KafkaBody<V2Subscribe>,
    ) -> V2Result<NoContent> {
        auth.0.require(Role::Client)?;
        let (ctx, instance) = serve(&state, req, &group_name.0, &instance.0).await?;
        let subscription = match (body.value.topics, body.value.topic_pattern) {
            (Some(topics), None) if !topics.is_empty() => Subscription::Topics { topics },
            (None, Some(pattern)) => {
                ferry_service::consumers::instance::full_match(&pattern)?;
                Subscription::Pattern { pattern }
            }
            (Some(_), Some(_)) => return Err(ConsumerError::Exclusive.into()),
            _ => {
                return Err(V2Error::unprocessable(
                    422,
                    "give topics (at least one) or topic_pattern",
                ));
            }
        };
        if let Subscription::Topics { topics } = &subscription {
            may_read(&ctx, topics)?;
        }
        instance.read(subscription.clone()).await?;
        state
            .consumers
            .save_subscription(&state.store, &instance, Some(subscription))
            .await?;
        Ok(NoContent::Done)
    }

    /// The topics the instance is subscribed to (for a pattern, the topics
    /// it matches).
    #[oai(
        path = "/consumers/:group_name/instances/:instance/subscription",
        method = "get"
    )]
    async fn subscription(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        group_name: Path<String>,
        instance: Path<String>,
    ) -> V2Result<V2Json<V2Topics>> {
        auth.0.require(Role::Client)?;
        let (_, instance) = serve(&state, req, &group_name.0, &instance.0).await?;
        Ok(V2Json(V2Topics {
            topics: instance.subscribed_topics().await,
        }))
    }

    /// Unsubscribe from every topic (or drop the assignment).
    #[oai(
        path = "/consumers/:group_name/instances/:instance/subscription",
        method = "delete"
    )]
    async fn unsubscribe(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        group_name: Path<String>,
        instance: Path<String>,
    ) -> V2Result<NoContent> {
        auth.0.require(Role::Client)?;
        let (_, instance) = serve(&state, req, &group_name.0, &instance.0).await?;
        instance.unsubscribe().await?;
        state
            .consumers
            .save_subscription(&state.store, &instance, None)
            .await?;
        Ok(NoContent::Done)
    }

    /// Assign partitions by hand (no group rebalancing).
    #[oai(
        path = "/consumers/:group_name/instances/:instance/assignments",
        method = "post"
    )]
    async fn assign(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        group_name: Path<String>,
        instance: Path<String>,
        body: KafkaBody<V2Partitions>,
    ) -> V2Result<NoContent> {
        auth.0.require(Role::Client)?;
        let (ctx, instance) = serve(&state, req, &group_name.0, &instance.0).await?;
        may_read(&ctx, body.value.partitions.iter().map(|p| p.topic.as_str()))?;
        let subscription = Subscription::Assignments {
            partitions: partitions(&body.value.partitions),
        };
        instance.read(subscription.clone()).await?;
        state
            .consumers
            .save_subscription(&state.store, &instance, Some(subscription))
            .await?;
        Ok(NoContent::Done)
    }

    /// The partitions the instance reads now.
    #[oai(
        path = "/consumers/:group_name/instances/:instance/assignments",
        method = "get"
    )]
    async fn assignments(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        group_name: Path<String>,
        instance: Path<String>,
    ) -> V2Result<V2Json<V2Partitions>> {
        auth.0.require(Role::Client)?;
        let (_, instance) = serve(&state, req, &group_name.0, &instance.0).await?;
        Ok(V2Json(V2Partitions {
            partitions: views(instance.assignment().await?),
        }))
    }

    /// Move the positions of assigned partitions to given offsets.
    #[oai(
        path = "/consumers/:group_name/instances/:instance/positions",
        method = "post"
    )]
    async fn seek(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        group_name: Path<String>,
        instance: Path<String>,
        body: KafkaBody<V2Offsets>,
    ) -> V2Result<NoContent> {
        auth.0.require(Role::Client)?;
        let (_, instance) = serve(&state, req, &group_name.0, &instance.0).await?;
        let targets = body
            .value
            .offsets
            .iter()
            .map(|o| {
                (
                    TopicPartition {
                        topic: o.topic.clone(),
                        partition: o.partition,
                    },
                    SeekTo::Offset(o.offset),
                )
            })
            .collect();
        instance.seek(targets).await?;
        Ok(NoContent::Done)
    }

    /// Move assigned partitions to their first offset.
    #[oai(
        path = "/consumers/:group_name/instances/:instance/positions/beginning",
        method = "post"
    )]
    async fn seek_beginning(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        group_name: Path<String>,
        instance: Path<String>,
        body: KafkaBody<V2Partitions>,
    ) -> V2Result<NoContent> {
        seek_all(
            &state,
            &auth,
            req,
            &group_name.0,
            &instance.0,
            &body.value,
            SeekTo::Beginning,
        )
        .await
    }

    /// Move assigned partitions past their last offset.
    #[oai(
        path = "/consumers/:group_name/instances/:instance/positions/end",
        method = "post"
    )]
    async fn seek_end(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        group_name: Path<String>,
        instance: Path<String>,
        body: KafkaBody<V2Partitions>,
    ) -> V2Result<NoContent> {
        seek_all(
            &state,
            &auth,
            req,
            &group_name.0,
            &instance.0,
            &body.value,
            SeekTo::End,
        )
        .await
    }

    /// Commit offsets (each the last record processed); with no body, every
    /// record returned so far.
    #[oai(
        path = "/consumers/:group_name/instances/:instance/offsets",
        method = "post"
    )]
    async fn commit(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        group_name: Path<String>,
        instance: Path<String>,
        body: KafkaBody<Option<V2Offsets>>,
    ) -> V2Result<NoContent> {
        auth.0.require(Role::Client)?;
        let (ctx, instance) = serve(&state, req, &group_name.0, &instance.0).await?;
        let offsets = match body.value {
            None => None,
            Some(list) => {
                may_read(&ctx, list.offsets.iter().map(|o| o.topic.as_str()))?;
                Some(
                    list.offsets
                        .into_iter()
                        .map(|o| {
                            (
                                TopicPartition {
                                    topic: o.topic,
                                    partition: o.partition,
                                },
                                o.offset,
                            )
                        })
                        .collect(),
                )
            }
        };
        instance.commit(offsets).await?;
        Ok(NoContent::Done)
    }

    /// The group's last committed offsets of the given partitions, whoever
    /// committed them (the body is read as the REST Proxy does, though the
    /// method is GET).
    #[oai(
        path = "/consumers/:group_name/instances/:instance/offsets",
        method = "get"
    )]
    async fn committed(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        group_name: Path<String>,
        instance: Path<String>,
        raw: Vec<u8>,
    ) -> V2Result<V2Json<V2CommittedOffsets>> {
        auth.0.require(Role::Client)?;
        let asked: Vec<V2TopicPartition> = match serde_json::from_slice::<Value>(&raw) {
            _ if raw.iter().all(u8::is_ascii_whitespace) => Vec::new(),
            Ok(value) => {
                <V2Partitions as poem_openapi::types::ParseFromJSON>::parse_from_json(Some(value))
                    .map_err(|e| V2Error::unprocessable(422, e.into_message()))?
                    .partitions
            }
            Err(e) => {
                return Err(V2Error::BadRequest(body(
                    400,
                    format!("the body is not JSON: {e}"),
                )));
            }
        };
        let (ctx, instance) = serve(&state, req, &group_name.0, &instance.0).await?;
        may_read(&ctx, asked.iter().map(|p| p.topic.as_str()))?;
        let list = if asked.is_empty() {
            instance.assignment().await?
        } else {
            partitions(&asked)
        };
        let committed = instance.committed(list).await?;
        Ok(V2Json(V2CommittedOffsets {
            offsets: committed
                .into_iter()
                .map(|c| V2CommittedOffset {
                    topic: c.partition.topic,
                    partition: c.partition.partition,
                    offset: c.offset,
                    metadata: c.metadata,
                })
                .collect(),
        }))
    }
}

async fn seek_all(
    state: &AppState,
    auth: &BearerAuth,
    req: &Request,
    group: &str,
    name: &str,
    body: &V2Partitions,
    to: SeekTo,
) -> V2Result<NoContent> {
    auth.0.require(Role::Client)?;
    let (_, instance) = serve(state, req, group, name).await?;
    instance
        .seek(
            partitions(&body.partitions)
                .into_iter()
                .map(|p| (p, to))
                .collect(),
        )
        .await?;
    Ok(NoContent::Done)
}
