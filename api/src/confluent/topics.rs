//! `/v3/clusters/{cluster_id}/topics`: list, create, get, update, delete.
//!
//! Creation is a `topic.create` task recorded by the same
//! `ferry_service::topics::submit` as TubeMQ's addTopicTask, so it is batched,
//! retried and audited the same way; deletion is a `topic.delete` task.
//! Omitted counts take ferry's defaults (one partition per broker,
//! replication factor min(3, brokers)) rather than the broker's.
//!
//! An update raises the partition count as Confluent Cloud's v3 API does:
//! `PATCH .../topics/{topic_name}` with `{"partitions_count": N}`, a
//! `topic.partitions` task (CreatePartitions). Kafka cannot remove
//! partitions, so a count that is not larger than the topic's is refused
//! with 422 naming the current one, before any task is recorded.

use std::collections::{BTreeMap, HashSet};

use ferry_entity::Role;
use ferry_service::{
    kafka::{
        admin::{self, ClusterDescription, TopicInfo},
        topic_config,
    },
    tasks::Waited,
    topics::admin as topic_admin,
    topics::{self, TopicSpec},
};
use poem::Request;
use poem_openapi::{ApiResponse, Object, OpenApi, param::Path, param::Query, payload::Json};
use serde_json::json;

use super::{
    Applied, ConfluentError, Ctx, READ_TIMEOUT, Related, ResourceMetadata, TaskAccepted, V3Result,
    count, list_meta, list_type, related, seg,
};
use crate::{api_tags::ApiTags, auth::BearerAuth, edge::requester, state::AppState};

#[derive(Debug, Object)]
pub struct KafkaTopic {
    /// `KafkaTopic`.
    pub kind: String,
    pub metadata: ResourceMetadata,
    pub cluster_id: String,
    pub topic_name: String,
    pub is_internal: bool,
    /// 0 when the broker reports no replica list (tansu 0.6 may not).
    pub replication_factor: i32,
    pub partitions_count: i32,
    pub partitions: Related,
    pub configs: Related,
}

list_type!(KafkaTopicList, KafkaTopic);

/// A config of a new topic.
#[derive(Debug, Object)]
pub struct ConfigValue {
    #[oai(validator(min_length = 1))]
    pub name: String,
    pub value: String,
}

#[derive(Debug, Object)]
pub struct CreateTopicRequest {
    /// 1-249 characters of letters, digits, `.`, `_` and `-`; not `.` or
    /// `..`.
    #[oai(validator(
        pattern = r"^([A-Za-z0-9_-][A-Za-z0-9._-]{0,248}|\.[A-Za-z0-9_-][A-Za-z0-9._-]{0,247}|\.\.[A-Za-z0-9._-]{1,247})$"
    ))]
    pub topic_name: String,
    /// 1-10,000; defaults to one partition per broker.
    #[oai(nullable, validator(minimum(value = "1"), maximum(value = "10000")))]
    pub partitions_count: Option<i32>,
    /// 1-32, and at most the number of brokers (409 otherwise); defaults
    /// to min(3, brokers).
    #[oai(nullable, validator(minimum(value = "1"), maximum(value = "32")))]
    pub replication_factor: Option<i32>,
    /// Topic configs, e.g. `{"name": "cleanup.policy", "value": "compact"}`.
    #[oai(nullable)]
    pub configs: Option<Vec<ConfigValue>>,
    /// Check everything and create nothing (also `?validate_only=true`).
    #[oai(nullable)]
    pub validate_only: Option<bool>,
}

/// A topic's new partition count.
#[derive(Debug, Object)]
pub struct UpdateTopicRequest {
    /// Larger than the topic's current count (Kafka cannot remove
    /// partitions), at most 10,000.
    #[oai(validator(minimum(value = "1"), maximum(value = "10000")))]
    pub partitions_count: i32,
}

#[derive(Debug, ApiResponse)]
pub enum TopicUpdated {
    /// The topic has the new partitions.
    #[oai(status = 200)]
    Updated(Json<KafkaTopic>),
    /// Still being changed after the wait: follow the task in `Location`.
    #[oai(status = 202)]
    Accepted(Json<TaskAccepted>, #[oai(header = "Location")] String),
}

#[derive(Debug, ApiResponse)]
pub enum TopicCreated {
    /// The topic exists and takes writes.
    #[oai(status = 201)]
    Created(Json<KafkaTopic>),
    /// `validate_only`: the request is valid; nothing was created.
    #[oai(status = 200)]
    Validated(Json<KafkaTopic>),
    /// Still being created after the wait: follow the task in `Location`.
    #[oai(status = 202)]
    Accepted(Json<TaskAccepted>, #[oai(header = "Location")] String),
}

pub fn topic_view(ctx: &Ctx, name: &str, rf: usize, partitions: usize) -> KafkaTopic {
    let path = format!("/topics/{}", seg(name));
    KafkaTopic {
        kind: "KafkaTopic".into(),
        metadata: ctx.meta(&path, &format!("/topic={name}")),
        cluster_id: ctx.cluster_id(),
        topic_name: name.to_owned(),
        is_internal: name.starts_with("__"),
        replication_factor: count(rf),
        partitions_count: count(partitions),
        partitions: related(ctx.url(&format!("{path}/partitions"))),
        configs: related(ctx.url(&format!("{path}/configs"))),
    }
}

fn info_view(ctx: &Ctx, t: &TopicInfo) -> KafkaTopic {
    topic_view(ctx, &t.name, t.replication_factor(), t.partitions.len())
}

/// The cluster's brokers and topics now, or 503 naming what failed.
pub async fn describe(ctx: &Ctx) -> V3Result<ClusterDescription> {
    admin::describe_cluster(&ctx.cluster, READ_TIMEOUT)
        .await
        .map_err(|e| ConfluentError::kafka("reading the cluster's metadata", e))
}

/// The topic, or 40401 (also for a topic outside the caller's prefix).
pub async fn find_topic(ctx: &Ctx, name: &str) -> V3Result<(ClusterDescription, TopicInfo)> {
    if !ctx.sees(name) {
        return Err(ConfluentError::topic_not_found(name));
    }
    let described = describe(ctx).await?;
    let topic = described
        .topic(name)
        .cloned()
        .ok_or_else(|| ConfluentError::topic_not_found(name))?;
    Ok((described, topic))
}

pub struct ConfluentTopicsApi;

#[OpenApi(prefix_path = "/v3/clusters", tag = "ApiTags::Confluent")]
impl ConfluentTopicsApi {
    /// List the cluster's topics.
    #[oai(path = "/:cluster_id/topics", method = "get")]
    async fn list(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        cluster_id: Path<String>,
    ) -> V3Result<Json<KafkaTopicList>> {
        auth.0.require(Role::Viewer)?;
        let ctx = Ctx::open(&state, req, &cluster_id.0).await?;
        let described = describe(&ctx).await?;
        Ok(Json(KafkaTopicList {
            kind: "KafkaTopicList".into(),
            metadata: list_meta(ctx.url("/topics")),
            data: described
                .topics
                .iter()
                .filter(|t| t.error.is_none() && ctx.sees(&t.name))
                .map(|t| info_view(&ctx, t))
                .collect(),
        }))
    }

    /// Create a topic (a `topic.create` task). 201 once it takes writes; 202
    /// with the task when that takes longer than the wait.
    #[oai(path = "/:cluster_id/topics", method = "post")]
    async fn create(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        cluster_id: Path<String>,
        #[oai(name = "validate_only")] validate_only: Query<Option<bool>>,
        body: Json<CreateTopicRequest>,
    ) -> V3Result<TopicCreated> {
        auth.0.require(Role::Client)?;
        let ctx = Ctx::open(&state, req, &cluster_id.0).await?;
        let body = body.0;
        let dry_run = super::validate_only(validate_only.0, body.validate_only);
        let name = body.topic_name.clone();
        super::audit(
            req,
            json!({ "clusterId": ctx.cluster_id, "topic": name, "validateOnly": dry_run }),
        );
        // Everything the request alone decides is checked before the cluster
        // is asked, so that a bad request is refused even when it is down.
        let configs = validate_create(&body)?;
        ctx.may_name(&name)?;
        let described = describe(&ctx).await?;
        let brokers = described.brokers.len();
        if let Some(rf) = body.replication_factor
            && rf as usize > brokers
        {
            // The request is well formed; this cluster cannot hold it.
            return Err(ConfluentError::refused(format!(
                "replication_factor {rf} is larger than the cluster's {brokers} available broker(s)"
            )));
        }
        if described.topic(&name).is_some() {
            return Err(ConfluentError::refused(format!(
                "Topic '{name}' already exists."
            )));
        }
        let partitions = body.partitions_count.map_or(brokers, |p| p as usize);
        let rf = body
            .replication_factor
            .map_or(brokers.min(3), |r| r as usize);
        if dry_run {
            return Ok(TopicCreated::Validated(Json(topic_view(
                &ctx, &name, rf, partitions,
            ))));
        }
        let spec = TopicSpec {
            topic_name: name.clone(),
            partition_count: body.partitions_count,
            replication_factor: body.replication_factor,
            configs,
            region: None,
            user: None,
        };
        let who = requester(&auth.0, req);
        let task = topics::submit(&state.store, &state.kafka, ctx.cluster_id, vec![spec], &who)
            .await?
            .pop()
            .ok_or_else(|| ConfluentError::store("no task was recorded"))?;
        Ok(match super::wait_task(&state, task).await? {
            Waited::Finished(task) => {
                let result = task.result.unwrap_or_default();
                let made = |key: &str, fallback: usize| {
                    result[key]
                        .as_u64()
                        .map_or(fallback, |v| usize::try_from(v).unwrap_or(fallback))
                };
                TopicCreated::Created(Json(topic_view(
                    &ctx,
                    &name,
                    made("replicationFactor", rf),
                    made("partitions", partitions),
                )))
            }
            Waited::Running(task) => {
                let (body, location) = TaskAccepted::new(&ctx.base, &task);
                TopicCreated::Accepted(body, location)
            }
        })
    }

    /// One topic.
    #[oai(path = "/:cluster_id/topics/:topic_name", method = "get")]
    async fn get(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        cluster_id: Path<String>,
        topic_name: Path<String>,
    ) -> V3Result<Json<KafkaTopic>> {
        auth.0.require(Role::Viewer)?;
        let ctx = Ctx::open(&state, req, &cluster_id.0).await?;
        let (_, topic) = find_topic(&ctx, &topic_name.0).await?;
        Ok(Json(info_view(&ctx, &topic)))
    }

    /// Raise a topic's partition count (a `topic.partitions` task). 200 with
    /// the topic once the metadata shows the new count; 202 with the task
    /// when that takes longer than the wait.
    #[oai(path = "/:cluster_id/topics/:topic_name", method = "patch")]
    async fn update(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        cluster_id: Path<String>,
        topic_name: Path<String>,
        body: Json<UpdateTopicRequest>,
    ) -> V3Result<TopicUpdated> {
        auth.0.require(Role::Client)?;
        let ctx = Ctx::open(&state, req, &cluster_id.0).await?;
        let name = topic_name.0;
        let wanted = body.0.partitions_count;
        super::audit(
            req,
            json!({ "clusterId": ctx.cluster_id, "topic": name, "partitionsCount": wanted }),
        );
        let (_, topic) = find_topic(&ctx, &name).await?;
        let current = topic.partitions.len();
        let adds = usize::try_from(wanted).is_ok_and(|w| w > current);
        if !adds {
            return Err(ConfluentError::invalid(format!(
                "partitions_count {wanted} is not larger than the topic's current {current}: \
                 Kafka can add partitions to a topic but never remove them"
            )));
        }
        let task = topic_admin::submit_partition_increase(
            &state.store,
            ctx.cluster_id,
            &name,
            wanted,
            &requester(&auth.0, req),
        )
        .await?;
        Ok(match super::wait_task(&state, task).await? {
            Waited::Finished(task) => {
                // The job succeeds once the metadata shows the count; a
                // Metadata answer from another broker may still lag.
                let shown = task.result.as_ref().and_then(|r| r["partitions"].as_u64());
                let (_, topic) = find_topic(&ctx, &name).await?;
                let mut view = info_view(&ctx, &topic);
                if let Some(shown) = shown.and_then(|p| i32::try_from(p).ok()) {
                    view.partitions_count = view.partitions_count.max(shown);
                }
                TopicUpdated::Updated(Json(view))
            }
            Waited::Running(task) => {
                let (body, location) = TaskAccepted::new(&ctx.base, &task);
                TopicUpdated::Accepted(body, location)
            }
        })
    }

    /// Delete a topic (a `topic.delete` task). 204 once the metadata no longer
    /// lists it; 202 with the task when that takes longer than the wait.
    #[oai(path = "/:cluster_id/topics/:topic_name", method = "delete")]
    async fn delete(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        cluster_id: Path<String>,
        topic_name: Path<String>,
    ) -> V3Result<Applied> {
        auth.0.require(Role::Client)?;
        let ctx = Ctx::open(&state, req, &cluster_id.0).await?;
        let name = topic_name.0;
        super::audit(req, json!({ "clusterId": ctx.cluster_id, "topic": name }));
        find_topic(&ctx, &name).await?;
        let task = topic_admin::submit_topic_delete(
            &state.store,
            ctx.cluster_id,
            &name,
            &requester(&auth.0, req),
        )
        .await?;
        super::applied(&state, &ctx.base, task).await
    }
}

/// Kafka's rules for a new topic that the request alone decides (the
/// replication factor's upper bound needs the broker count), naming the
/// offending field; returns the configs as a map.
fn validate_create(body: &CreateTopicRequest) -> V3Result<BTreeMap<String, String>> {
    let name = body.topic_name.as_str();
    topics::validate_topic_name(name)
        .map_err(|e| ConfluentError::invalid(format!("topic_name: {e}")))?;
    if let Some(p) = body.partitions_count
        && !(1..=topics::MAX_PARTITIONS).contains(&p)
    {
        return Err(ConfluentError::invalid(format!(
            "partitions_count must be between 1 and {}, got {p}",
            topics::MAX_PARTITIONS
        )));
    }
    if let Some(rf) = body.replication_factor
        && !(1..=topics::MAX_REPLICATION_FACTOR).contains(&rf)
    {
        return Err(ConfluentError::invalid(format!(
            "replication_factor must be between 1 and {}, got {rf}",
            topics::MAX_REPLICATION_FACTOR
        )));
    }
    let mut configs = BTreeMap::new();
    let mut seen = HashSet::new();
    for c in body.configs.iter().flatten() {
        let cname = c.name.as_str();
        let value = c.value.clone();
        if !seen.insert(cname.to_owned()) {
            return Err(ConfluentError::invalid(format!(
                "configs: `{cname}` is given twice"
            )));
        }
        configs.insert(cname.to_owned(), value);
    }
    topic_config::validate(&configs)
        .map_err(|e| ConfluentError::invalid(format!("configs: {e}")))?;
    Ok(configs)
}
