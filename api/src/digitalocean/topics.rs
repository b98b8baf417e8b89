//! `/v2/databases/{database_cluster_uuid}/topics`: list, create, get,
//! update and delete Kafka topics, in DigitalOcean's shapes.
//!
//! A topic's `partitions[].size` is the partition's log size in bytes where
//! ferry's statistics have it, else 0; `consumer_groups` lists the groups
//! that committed an offset on the partition (`null` when none did), as
//! DigitalOcean's example shows.

use std::collections::BTreeMap;

use ferry_entity::Role;
use ferry_entity::payload::{ConfigChange, ConfigOp, ConfigOpKind, ConfigResource};
use ferry_service::{
    kafka::admin::{self, ClusterDescription, TopicInfo},
    topics::{
        self, TopicSpec, admin as topic_admin,
        overview::{self, Extras, Health, TopicOverview},
    },
};
use poem::Request;
use poem_openapi::{ApiResponse, Object, OpenApi, param::Path, payload::Json};
use serde_json::json;

use super::{Database, DoError, DoResult, config::TopicConfig, settle};
use crate::{
    api_tags::ApiTags, auth::BearerAuth, confluent::READ_TIMEOUT, edge::requester,
    middleware::audit::AuditNote, state::AppState,
};

/// A topic in a list.
#[derive(Debug, Object)]
#[oai(rename = "DigitalOceanTopicSummary")]
pub struct TopicSummary {
    pub name: String,
    /// `active`, `configuring`, `deleting` or `unknown`.
    pub state: String,
    pub replication_factor: i64,
    pub partition_count: i64,
}

#[derive(Debug, Object)]
#[oai(rename = "DigitalOceanTopicList")]
pub struct TopicList {
    pub topics: Vec<TopicSummary>,
}

#[derive(Debug, Object)]
#[oai(rename = "DigitalOceanGroupOffset")]
pub struct GroupOffset {
    pub name: String,
    pub offset: i64,
}

#[derive(Debug, Object)]
#[oai(rename = "DigitalOceanPartition")]
pub struct Partition {
    pub id: i64,
    /// The partition's log size in bytes (0 where unknown).
    pub size: i64,
    pub in_sync_replicas: i64,
    pub earliest_offset: i64,
    /// The groups that committed an offset here; null when none did.
    #[oai(nullable)]
    pub consumer_groups: Option<Vec<GroupOffset>>,
}

#[derive(Debug, Object)]
#[oai(rename = "DigitalOceanTopic")]
pub struct Topic {
    pub name: String,
    /// `active`, `configuring`, `deleting` or `unknown`.
    pub state: String,
    pub replication_factor: i64,
    pub partitions: Vec<Partition>,
    pub config: TopicConfig,
}

#[derive(Debug, Object)]
#[oai(rename = "DigitalOceanTopicEnvelope")]
pub struct TopicEnvelope {
    pub topic: Topic,
}

#[derive(Debug, Object)]
#[oai(rename = "DigitalOceanCreateTopic")]
pub struct CreateTopic {
    /// 1-249 characters of letters, digits, `.`, `_` and `-`; not `.` or
    /// `..`.
    #[oai(validator(
        pattern = r"^([A-Za-z0-9_-][A-Za-z0-9._-]{0,248}|\.[A-Za-z0-9_-][A-Za-z0-9._-]{0,247}|\.\.[A-Za-z0-9._-]{1,247})$"
    ))]
    pub name: String,
    /// 1-32, at most the number of brokers (409 otherwise); defaults to
    /// min(3, brokers).
    #[oai(nullable, validator(minimum(value = "1"), maximum(value = "32")))]
    pub replication_factor: Option<i64>,
    /// 1-10,000; defaults to one partition per broker.
    #[oai(nullable, validator(minimum(value = "1"), maximum(value = "10000")))]
    pub partition_count: Option<i64>,
    #[oai(nullable)]
    pub config: Option<TopicConfig>,
}

#[derive(Debug, Object)]
#[oai(rename = "DigitalOceanUpdateTopic")]
pub struct UpdateTopic {
    /// Can only be increased (409 otherwise); at most 10,000.
    #[oai(nullable, validator(minimum(value = "1"), maximum(value = "10000")))]
    pub partition_count: Option<i64>,
    /// Must equal the current one: changing it is a reassignment, which
    /// this API does not do.
    #[oai(nullable)]
    pub replication_factor: Option<i64>,
    /// The keys given are set; the others are left as they are.
    #[oai(nullable)]
    pub config: Option<TopicConfig>,
}

#[derive(Debug, ApiResponse)]
pub enum Created {
    #[oai(status = 201)]
    Created(Json<TopicEnvelope>),
}

#[derive(Debug, ApiResponse)]
pub enum Deleted {
    #[oai(status = 204)]
    Deleted,
}

fn state_word(health: Health) -> &'static str {
    match health {
        Health::Deleting => "deleting",
        Health::Changing => "configuring",
        Health::Broken | Health::LastChangeFailed => "unknown",
        Health::UnderReplicated | Health::Active => "active",
    }
}

fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn topic_view(o: &TopicOverview) -> Topic {
    Topic {
        name: o.name.clone(),
        state: state_word(o.health).to_owned(),
        replication_factor: count(o.replication_factor),
        partitions: o
            .partitions
            .iter()
            .map(|p| Partition {
                id: i64::from(p.id),
                size: 0,
                in_sync_replicas: count(p.in_sync),
                earliest_offset: p.range.start.unwrap_or(0),
                consumer_groups: (!p.groups.is_empty()).then(|| {
                    p.groups
                        .iter()
                        .map(|(name, offset)| GroupOffset {
                            name: name.clone(),
                            offset: *offset,
                        })
                        .collect()
                }),
            })
            .collect(),
        config: TopicConfig::from_kafka(&o.configs),
    }
}

/// The cluster's metadata now, or 503.
async fn describe(db: &Database) -> DoResult<ClusterDescription> {
    admin::describe_cluster(&db.cluster, READ_TIMEOUT)
        .await
        .map_err(|e| DoError::unavailable(format!("reading the cluster's metadata: {e}")))
}

/// One topic the caller sees, in full.
async fn full_topic(state: &AppState, db: &Database, name: &str) -> DoResult<Topic> {
    let topic = find(db, name).await?;
    let names = super::config::kafka_names();
    let extras = Extras {
        offsets: true,
        groups: true,
        configs: &names,
    };
    let overview = overview::overview(
        &state.store,
        &db.cluster,
        db.cluster_id,
        vec![topic],
        extras,
        READ_TIMEOUT,
    )
    .await?;
    overview
        .first()
        .map(topic_view)
        .ok_or_else(DoError::not_found)
}

async fn find(db: &Database, name: &str) -> DoResult<TopicInfo> {
    if !db.sees(name) {
        return Err(DoError::not_found());
    }
    describe(db)
        .await?
        .topic(name)
        .cloned()
        .ok_or_else(DoError::not_found)
}

fn audit(req: &Request, detail: serde_json::Value) {
    if let Some(note) = req.extensions().get::<AuditNote>() {
        note.set(detail);
    }
}

pub struct DigitalOceanTopicsApi;

#[OpenApi(prefix_path = "/v2/databases", tag = "ApiTags::DigitalOcean")]
impl DigitalOceanTopicsApi {
    /// List the cluster's topics.
    #[oai(path = "/:database_cluster_uuid/topics", method = "get")]
    async fn list(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        database_cluster_uuid: Path<String>,
    ) -> DoResult<Json<TopicList>> {
        async {
            auth.0.require(Role::Viewer)?;
            let db = Database::open(&state, &auth.0, &database_cluster_uuid.0).await?;
            let described = describe(&db).await?;
            let topics: Vec<TopicInfo> = described
                .topics
                .into_iter()
                .filter(|t| t.error.is_none() && !t.is_internal() && db.sees(&t.name))
                .collect();
            let overview = overview::overview(
                &state.store,
                &db.cluster,
                db.cluster_id,
                topics,
                Extras::default(),
                READ_TIMEOUT,
            )
            .await?;
            Ok(Json(TopicList {
                topics: overview
                    .iter()
                    .map(|o| TopicSummary {
                        name: o.name.clone(),
                        state: state_word(o.health).to_owned(),
                        replication_factor: count(o.replication_factor),
                        partition_count: count(o.partitions.len()),
                    })
                    .collect(),
            }))
        }
        .await
        .map_err(|e: DoError| e.for_request(req))
    }

    /// Create a topic (a `topic.create` task). 201 with the topic; its state
    /// is `configuring` while the task still runs after the wait.
    #[oai(path = "/:database_cluster_uuid/topics", method = "post")]
    async fn create(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        database_cluster_uuid: Path<String>,
        body: Json<CreateTopic>,
    ) -> DoResult<Created> {
        async {
            auth.0.require(Role::Client)?;
            let db = Database::open(&state, &auth.0, &database_cluster_uuid.0).await?;
            let body = body.0;
            let name = body.name.clone();
            audit(req, json!({ "clusterId": db.cluster_id, "topic": name }));
            let spec = validate_create(&body)?;
            db.identity
                .may_name(db.cluster_id, "topic", &name)
                .map_err(DoError::from)?;
            let described = describe(&db).await?;
            if described.topic(&name).is_some() {
                return Err(DoError::Conflict(super::body(
                    409,
                    format!("topic {name} already exists"),
                )));
            }
            let brokers = described.brokers.len();
            if let Some(rf) = spec.replication_factor
                && rf as usize > brokers
            {
                return Err(DoError::conflict(format!(
                    "replication_factor {rf} is larger than the cluster's {brokers} broker(s)"
                )));
            }
            let planned_partitions = spec.partition_count.map_or(brokers, |p| p as usize);
            let planned_rf = spec
                .replication_factor
                .map_or(brokers.min(3), |r| r as usize);
            let planned_configs = spec.configs.clone();
            let who = requester(&db.identity, req);
            let task = topics::submit(&state.store, &state.kafka, db.cluster_id, vec![spec], &who)
                .await?
                .pop()
                .ok_or_else(|| DoError::unavailable("no task was recorded"))?;
            let topic = match settle(&state, task).await? {
                Some(_) => full_topic(&state, &db, &name).await?,
                None => Topic {
                    name: name.clone(),
                    state: "configuring".into(),
                    replication_factor: count(planned_rf),
                    partitions: (0..planned_partitions)
                        .map(|id| Partition {
                            id: count(id),
                            size: 0,
                            in_sync_replicas: 0,
                            earliest_offset: 0,
                            consumer_groups: None,
                        })
                        .collect(),
                    config: TopicConfig::from_kafka(&planned_configs),
                },
            };
            Ok(Created::Created(Json(TopicEnvelope { topic })))
        }
        .await
        .map_err(|e: DoError| e.for_request(req))
    }

    /// One topic with its partitions and configuration.
    #[oai(path = "/:database_cluster_uuid/topics/:topic_name", method = "get")]
    async fn get(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        database_cluster_uuid: Path<String>,
        topic_name: Path<String>,
    ) -> DoResult<Json<TopicEnvelope>> {
        async {
            auth.0.require(Role::Viewer)?;
            let db = Database::open(&state, &auth.0, &database_cluster_uuid.0).await?;
            let topic = full_topic(&state, &db, &topic_name.0).await?;
            Ok(Json(TopicEnvelope { topic }))
        }
        .await
        .map_err(|e: DoError| e.for_request(req))
    }

    /// Update a topic: raise its partition count (a `topic.partitions`
    /// task) and set configs (a `topic.config` task).
    #[oai(path = "/:database_cluster_uuid/topics/:topic_name", method = "put")]
    async fn update(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        database_cluster_uuid: Path<String>,
        topic_name: Path<String>,
        body: Json<UpdateTopic>,
    ) -> DoResult<Json<TopicEnvelope>> {
        async {
            auth.0.require(Role::Client)?;
            let db = Database::open(&state, &auth.0, &database_cluster_uuid.0).await?;
            let name = topic_name.0;
            let body = body.0;
            audit(req, json!({ "clusterId": db.cluster_id, "topic": name }));
            let configs = match &body.config {
                Some(c) => c.to_kafka().map_err(DoError::invalid)?,
                None => BTreeMap::new(),
            };
            ferry_service::kafka::topic_config::validate(&configs)
                .map_err(|e| DoError::invalid(format!("config: {e}")))?;
            let current = find(&db, &name).await?;
            let now_partitions = current.partitions.len();
            if let Some(rf) = body.replication_factor
                && current.replication_factor() > 0
                && rf != count(current.replication_factor())
            {
                return Err(DoError::conflict(format!(
                    "replication_factor cannot change from {} to {rf}: that is a partition \
                     reassignment, which this API does not do",
                    current.replication_factor()
                )));
            }
            let raise = match body.partition_count {
                Some(p) if p < count(now_partitions) => {
                    return Err(DoError::conflict(format!(
                        "partition_count can only be increased: the topic has {now_partitions}, \
                         got {p}"
                    )));
                }
                Some(p) if p > count(now_partitions) => Some(
                    i32::try_from(p)
                        .map_err(|_| DoError::invalid("partition_count is too large"))?,
                ),
                _ => None,
            };
            let who = requester(&db.identity, req);
            let mut running = false;
            if let Some(p) = raise {
                let task = topic_admin::submit_partition_increase(
                    &state.store,
                    db.cluster_id,
                    &name,
                    p,
                    &who,
                )
                .await?;
                running |= settle(&state, task).await?.is_none();
            }
            if !configs.is_empty() {
                let change = ConfigChange {
                    resource: ConfigResource::Topic(name.clone()),
                    ops: configs
                        .into_iter()
                        .map(|(name, value)| ConfigOp {
                            name,
                            operation: ConfigOpKind::Set,
                            value: Some(value),
                            sealed: None,
                        })
                        .collect(),
                };
                let task = topic_admin::submit_config_change(
                    &state.store,
                    db.cluster_id,
                    change,
                    &[],
                    &who,
                )
                .await?;
                running |= settle(&state, task).await?.is_none();
            }
            let mut topic = full_topic(&state, &db, &name).await?;
            if running {
                topic.state = "configuring".into();
            }
            Ok(Json(TopicEnvelope { topic }))
        }
        .await
        .map_err(|e: DoError| e.for_request(req))
    }

    /// Delete a topic (a `topic.delete` task). 204 once accepted; the topic
    /// shows `state: "deleting"` until it is gone.
    #[oai(path = "/:database_cluster_uuid/topics/:topic_name", method = "delete")]
    async fn delete(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        database_cluster_uuid: Path<String>,
        topic_name: Path<String>,
    ) -> DoResult<Deleted> {
        async {
            auth.0.require(Role::Client)?;
            let db = Database::open(&state, &auth.0, &database_cluster_uuid.0).await?;
            let name = topic_name.0;
            audit(req, json!({ "clusterId": db.cluster_id, "topic": name }));
            find(&db, &name).await?;
            let task = topic_admin::submit_topic_delete(
                &state.store,
                db.cluster_id,
                &name,
                &requester(&db.identity, req),
            )
            .await?;
            settle(&state, task).await?;
            ferry_service::topics::notes::remove(&state.store, db.cluster_id, &name).await?;
            Ok(Deleted::Deleted)
        }
        .await
        .map_err(|e: DoError| e.for_request(req))
    }
}

/// What the request alone decides, naming the field.
fn validate_create(body: &CreateTopic) -> DoResult<TopicSpec> {
    let name = body.name.as_str();
    topics::validate_topic_name(name).map_err(|e| DoError::invalid(format!("name: {e}")))?;
    let ranged = |field: &str, value: Option<i64>, max: i32| -> DoResult<Option<i32>> {
        match value {
            None => Ok(None),
            Some(v) if v >= 1 && v <= i64::from(max) => Ok(Some(v as i32)),
            Some(v) => Err(DoError::invalid(format!(
                "{field} must be between 1 and {max}, got {v}"
            ))),
        }
    };
    let partition_count = ranged(
        "partition_count",
        body.partition_count,
        topics::MAX_PARTITIONS,
    )?;
    let replication_factor = ranged(
        "replication_factor",
        body.replication_factor,
        topics::MAX_REPLICATION_FACTOR,
    )?;
    let configs = match &body.config {
        Some(c) => c.to_kafka().map_err(DoError::invalid)?,
        None => BTreeMap::new(),
    };
    ferry_service::kafka::topic_config::validate(&configs)
        .map_err(|e| DoError::invalid(format!("config: {e}")))?;
    Ok(TopicSpec {
        topic_name: name.to_owned(),
        partition_count,
        replication_factor,
        configs,
        region: None,
        user: None,
    })
}
