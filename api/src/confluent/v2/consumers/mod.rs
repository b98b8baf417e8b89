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
//! Creation and its settings' grammar are in `create.rs`, commits and
//! committed offsets in `offsets.rs`. A project token reaches only
//! groups and topics under its project's prefix: another group's instances
//! are not found (`40403`), another project's topics are refused (`40301`).

use ferry_entity::{
    Role,
    consumer_instance::{Subscription, TopicPartition},
};
use ferry_service::consumers::{ConsumerError, Instance, Key, SeekTo};
use poem::Request;
use poem_openapi::{ApiResponse, Object, OpenApi, param::Path};
use std::sync::Arc;

use super::{V2Error, V2Result, body::KafkaBody, body::V2Json, open};
use crate::{
    api_tags::ApiTags,
    auth::BearerAuth,
    confluent::{ConfluentError, Ctx, error::body},
    state::AppState,
};

pub mod create;
pub mod forward;
pub mod offsets;
pub mod records;

pub const INSTANCE_NOT_FOUND: i32 = 40403;
pub const INSTANCE_EXISTS: i32 = 40902;
pub const EXCLUSIVE: i32 = 40903;
pub const INVALID_CONFIG: i32 = 42204;
pub const FORMAT_MISMATCH: i32 = 40601;
pub const AUTHORIZATION: i32 = 40301;

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

/// `204 No Content`.
#[derive(Debug, ApiResponse)]
pub enum NoContent {
    #[oai(status = 204)]
    Done,
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
pub(super) fn may_read(
    ctx: &Ctx,
    topics: impl IntoIterator<Item = impl AsRef<str>>,
) -> V2Result<()> {
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

pub(super) fn partitions(list: &[V2TopicPartition]) -> Vec<TopicPartition> {
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

pub struct ConfluentV2ConsumersApi;

#[OpenApi(tag = "ApiTags::ConfluentV2")]
impl ConfluentV2ConsumersApi {
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
        state
            .consumers
            .follow(&state.store, &instance, Some(subscription))
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
        state
            .consumers
            .follow(&state.store, &instance, None)
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
        state
            .consumers
            .follow(&state.store, &instance, Some(subscription))
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
