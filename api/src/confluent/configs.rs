//! Configs in Confluent's shape, and topic configs:
//! `/v3/clusters/{cluster_id}/topics/{topic_name}/configs[/{name}]` list, get,
//! update (`PUT`), reset (`DELETE`) and batch alter (`POST .../configs:alter`).
//! Broker and cluster configs are in `broker_configs`.
//!
//! Changes are `topic.config` tasks running one IncrementalAlterConfigs
//! request. Names and values are checked against Kafka's topic configs before
//! anything is recorded; `validate_only` stops there and changes nothing.
//! Sensitive values are never returned (null), in entries or synonyms.

use ferry_entity::Role;
use ferry_entity::payload::ConfigChange;
use ferry_service::{
    kafka::{
        admin::{self, ConfigEntry, ConfigOp, ConfigOpKind, ConfigResource},
        topic_config,
    },
    topics::admin as topic_admin,
};
use poem::Request;
use poem_openapi::{Object, OpenApi, param::Path, param::Query, payload::Json};
use serde_json::json;
use std::collections::{BTreeMap, HashSet};

use super::{
    Applied, ConfluentError, Ctx, READ_TIMEOUT, ResourceMetadata, V3Result, list_meta, list_type,
    seg, topics::find_topic,
};
use crate::{api_tags::ApiTags, auth::BearerAuth, edge::requester, state::AppState};

#[derive(Debug, Object)]
pub struct ConfigSynonymView {
    pub name: String,
    /// Null when sensitive.
    #[oai(nullable)]
    pub value: Option<String>,
    pub source: String,
}

/// A topic, broker or cluster config (`KafkaTopicConfig`,
/// `KafkaBrokerConfig`, `KafkaClusterConfig`).
#[derive(Debug, Object)]
pub struct KafkaConfig {
    pub kind: String,
    pub metadata: ResourceMetadata,
    pub cluster_id: String,
    /// Topic configs only.
    #[oai(nullable, skip_serializing_if_is_none)]
    pub topic_name: Option<String>,
    /// Broker configs only.
    #[oai(nullable, skip_serializing_if_is_none)]
    pub broker_id: Option<i32>,
    /// Cluster configs only: `BROKER`.
    #[oai(nullable, skip_serializing_if_is_none)]
    pub config_type: Option<String>,
    pub name: String,
    /// Null when sensitive (or unset).
    #[oai(nullable)]
    pub value: Option<String>,
    pub is_default: bool,
    pub is_read_only: bool,
    pub is_sensitive: bool,
    /// e.g. `DYNAMIC_TOPIC_CONFIG`, `STATIC_BROKER_CONFIG`, `DEFAULT_CONFIG`.
    pub source: String,
    pub synonyms: Vec<ConfigSynonymView>,
}

list_type!(KafkaConfigList, KafkaConfig);

/// Body of `PUT .../configs/{name}`.
#[derive(Debug, Object)]
pub struct UpdateConfigRequest {
    pub value: String,
}

crate::pattern_string!(ConfigName, r"[^\s\x85]", "A config's name: not blank.");

crate::pattern_string!(
    AlterOperation,
    r"^([Ss][Ee][Tt]|[Dd][Ee][Ll][Ee][Tt][Ee])$",
    "`SET` or `DELETE`, any case."
);

/// One change of a batch alter. (Fields of a list's elements avoid
/// `validator(pattern)`: `pattern_string.rs`.)
#[derive(Debug, Object)]
pub struct AlterConfigEntry {
    pub name: ConfigName,
    /// Required for `SET`.
    #[oai(nullable)]
    pub value: Option<String>,
    /// `SET` (the default) or `DELETE` (reset to the default), any case.
    #[oai(nullable)]
    pub operation: Option<AlterOperation>,
}

/// Body of `POST .../configs:alter`.
#[derive(Debug, Object)]
pub struct AlterConfigsRequest {
    #[oai(validator(min_items = 1))]
    pub data: Vec<AlterConfigEntry>,
    /// Check everything and change nothing (also `?validate_only=true`).
    #[oai(nullable)]
    pub validate_only: Option<bool>,
}

/// Whose configs.
pub enum Scope {
    Topic(String),
    Broker(i32),
    Cluster,
}

impl Scope {
    fn kind(&self) -> &'static str {
        match self {
            Scope::Topic(_) => "KafkaTopicConfig",
            Scope::Broker(_) => "KafkaBrokerConfig",
            Scope::Cluster => "KafkaClusterConfig",
        }
    }

    /// The list's path under the cluster.
    pub fn path(&self) -> String {
        match self {
            Scope::Topic(t) => format!("/topics/{}/configs", seg(t)),
            Scope::Broker(b) => format!("/brokers/{b}/configs"),
            Scope::Cluster => "/broker-configs".into(),
        }
    }

    fn crn(&self, name: &str) -> String {
        match self {
            Scope::Topic(t) => format!("/topic={t}/config={name}"),
            Scope::Broker(b) => format!("/broker={b}/config={name}"),
            Scope::Cluster => format!("/broker-config={name}"),
        }
    }

    pub fn view(&self, ctx: &Ctx, e: &ConfigEntry) -> KafkaConfig {
        KafkaConfig {
            kind: self.kind().into(),
            metadata: ctx.meta(
                &format!("{}/{}", self.path(), seg(&e.name)),
                &self.crn(&e.name),
            ),
            cluster_id: ctx.cluster_id(),
            topic_name: match self {
                Scope::Topic(t) => Some(t.clone()),
                _ => None,
            },
            broker_id: match self {
                Scope::Broker(b) => Some(*b),
                _ => None,
            },
            config_type: matches!(self, Scope::Cluster).then(|| "BROKER".to_owned()),
            name: e.name.clone(),
            value: (!e.is_sensitive).then(|| e.value.clone()).flatten(),
            is_default: e.is_default,
            is_read_only: e.is_read_only,
            is_sensitive: e.is_sensitive,
            source: e.source.clone(),
            synonyms: e
                .synonyms
                .iter()
                .map(|s| ConfigSynonymView {
                    name: s.name.clone(),
                    value: (!e.is_sensitive).then(|| s.value.clone()).flatten(),
                    source: s.source.clone(),
                })
                .collect(),
        }
    }

    pub fn list(&self, ctx: &Ctx, entries: &[ConfigEntry]) -> KafkaConfigList {
        KafkaConfigList {
            kind: format!("{}List", self.kind()),
            metadata: list_meta(ctx.url(&self.path())),
            data: entries.iter().map(|e| self.view(ctx, e)).collect(),
        }
    }

    /// The named entry, or 404.
    pub fn find(&self, ctx: &Ctx, entries: &[ConfigEntry], name: &str) -> V3Result<KafkaConfig> {
        let owner = match self {
            Scope::Topic(t) => format!(" for topic '{t}'"),
            Scope::Broker(b) => format!(" for broker {b}"),
            Scope::Cluster => String::new(),
        };
        entries
            .iter()
            .find(|e| e.name == name)
            .map(|e| self.view(ctx, e))
            .ok_or_else(|| {
                ConfluentError::not_found(404, format!("Config {name} cannot be found{owner}."))
            })
    }
}

/// The change of `PUT .../configs/{name}`: set one config.
pub fn set_one(name: String, value: String) -> V3Result<Vec<ConfigOp>> {
    Ok(vec![ConfigOp {
        name,
        value: Some(value),
        sealed: None,
        operation: ConfigOpKind::Set,
    }])
}

/// The change of `DELETE .../configs/{name}`: reset one config.
pub fn reset_one(name: String) -> V3Result<Vec<ConfigOp>> {
    Ok(vec![ConfigOp {
        name,
        value: None,
        sealed: None,
        operation: ConfigOpKind::Delete,
    }])
}

/// The changes of a batch alter: names given, `SET` with a value, each name
/// once.
pub fn parse_alter(body: &AlterConfigsRequest) -> V3Result<Vec<ConfigOp>> {
    let entries = body.data.as_slice();
    if entries.is_empty() {
        return Err(ConfluentError::invalid(
            "data must list at least one config to alter",
        ));
    }
    let mut seen = HashSet::new();
    let mut ops = Vec::with_capacity(entries.len());
    for (i, e) in entries.iter().enumerate() {
        let name = Some(e.name.0.clone())
            .filter(|n| !n.trim().is_empty())
            .ok_or_else(|| ConfluentError::invalid(format!("data[{i}].name is required")))?;
        let operation = match e
            .operation
            .as_ref()
            .map(|o| o.0.to_ascii_uppercase())
            .as_deref()
        {
            None | Some("SET") => ConfigOpKind::Set,
            Some("DELETE") => ConfigOpKind::Delete,
            Some(other) => {
                return Err(ConfluentError::invalid(format!(
                    "data[{i}].operation `{other}` is not SET or DELETE"
                )));
            }
        };
        if operation == ConfigOpKind::Set && e.value.is_none() {
            return Err(ConfluentError::invalid(format!(
                "data[{i}].value is required to SET `{name}`"
            )));
        }
        if !seen.insert(name.clone()) {
            return Err(ConfluentError::invalid(format!(
                "data: `{name}` is given twice"
            )));
        }
        ops.push(ConfigOp {
            value: (operation == ConfigOpKind::Set)
                .then(|| e.value.clone())
                .flatten(),
            name,
            sealed: None,
            operation,
        });
    }
    Ok(ops)
}

/// `POST .../configs:alter` is registered as `configs` followed by a path
/// parameter (the router reads `:` as one); anything but `:alter` is no route.
pub fn require_alter_suffix(req: &Request) -> V3Result<()> {
    if req.uri().path().ends_with("configs:alter") {
        Ok(())
    } else {
        Err(ConfluentError::not_found(404, "no such route"))
    }
}

/// Checks topic config changes against Kafka's topic configs: known names,
/// values of the right type.
fn validate_topic_ops(ops: &[ConfigOp]) -> V3Result<()> {
    for op in ops {
        let value = match op.operation {
            ConfigOpKind::Set => op.value.clone().unwrap_or_default(),
            ConfigOpKind::Delete => {
                // A reset needs only a known name: probe with an empty value and
                // accept any complaint but "unknown".
                match topic_config::validate(&BTreeMap::from([(op.name.clone(), String::new())])) {
                    Err(e) if e.starts_with("unknown topic config") => {
                        return Err(ConfluentError::invalid(e));
                    }
                    _ => continue,
                }
            }
        };
        topic_config::validate(&BTreeMap::from([(op.name.clone(), value)]))
            .map_err(ConfluentError::invalid)?;
    }
    Ok(())
}

pub struct ConfluentTopicConfigsApi;

#[OpenApi(prefix_path = "/v3/clusters", tag = "ApiTags::Confluent")]
impl ConfluentTopicConfigsApi {
    /// List a topic's configs.
    #[oai(path = "/:cluster_id/topics/:topic_name/configs", method = "get")]
    async fn list(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        cluster_id: Path<String>,
        topic_name: Path<String>,
    ) -> V3Result<Json<KafkaConfigList>> {
        auth.0.require(Role::Viewer)?;
        let ctx = Ctx::open(&state, req, &cluster_id.0).await?;
        let (scope, entries) = topic_configs(&ctx, &topic_name.0).await?;
        Ok(Json(scope.list(&ctx, &entries)))
    }

    /// One config of a topic.
    #[oai(path = "/:cluster_id/topics/:topic_name/configs/:name", method = "get")]
    async fn get(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        cluster_id: Path<String>,
        topic_name: Path<String>,
        name: Path<String>,
    ) -> V3Result<Json<KafkaConfig>> {
        auth.0.require(Role::Viewer)?;
        let ctx = Ctx::open(&state, req, &cluster_id.0).await?;
        let (scope, entries) = topic_configs(&ctx, &topic_name.0).await?;
        scope.find(&ctx, &entries, &name.0).map(Json)
    }

    /// Set one config of a topic (a `topic.config` task).
    #[oai(path = "/:cluster_id/topics/:topic_name/configs/:name", method = "put")]
    #[allow(clippy::too_many_arguments)]
    async fn update(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        cluster_id: Path<String>,
        topic_name: Path<String>,
        name: Path<String>,
        #[oai(name = "validate_only")] validate_only: Query<Option<bool>>,
        body: Json<UpdateConfigRequest>,
    ) -> V3Result<Applied> {
        let ops = set_one(name.0, body.0.value);
        change_topic(
            &state,
            &auth,
            req,
            &cluster_id.0,
            topic_name.0,
            ops,
            validate_only.0,
        )
        .await
    }

    /// Reset one config of a topic to its default (a `topic.config` task).
    #[oai(
        path = "/:cluster_id/topics/:topic_name/configs/:name",
        method = "delete"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn reset(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        cluster_id: Path<String>,
        topic_name: Path<String>,
        name: Path<String>,
        #[oai(name = "validate_only")] validate_only: Query<Option<bool>>,
    ) -> V3Result<Applied> {
        let ops = reset_one(name.0);
        change_topic(
            &state,
            &auth,
            req,
            &cluster_id.0,
            topic_name.0,
            ops,
            validate_only.0,
        )
        .await
    }

    /// Set or reset several configs of a topic at once (a `topic.config` task).
    #[oai(
        path = "/:cluster_id/topics/:topic_name/configs:alter",
        method = "post"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn alter(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        cluster_id: Path<String>,
        topic_name: Path<String>,
        #[oai(name = "validate_only")] validate_only: Query<Option<bool>>,
        body: Json<AlterConfigsRequest>,
    ) -> V3Result<Applied> {
        require_alter_suffix(req)?;
        let dry_run = super::validate_only(validate_only.0, body.0.validate_only);
        let ops = parse_alter(&body.0);
        change_topic(
            &state,
            &auth,
            req,
            &cluster_id.0,
            topic_name.0,
            ops,
            Some(dry_run),
        )
        .await
    }
}

async fn topic_configs(ctx: &Ctx, topic: &str) -> V3Result<(Scope, Vec<ConfigEntry>)> {
    find_topic(ctx, topic).await?;
    let entries = admin::describe_configs(
        &ctx.cluster,
        ConfigResource::Topic(topic.to_owned()),
        READ_TIMEOUT,
    )
    .await
    .map_err(|e| ConfluentError::kafka(&format!("reading the configs of topic '{topic}'"), e))?;
    Ok((Scope::Topic(topic.to_owned()), entries))
}

/// The common path of every topic config change: role, validation, the
/// topic's existence, then (unless a dry run) the task.
async fn change_topic(
    state: &AppState,
    auth: &BearerAuth,
    req: &Request,
    cluster_id: &str,
    topic: String,
    ops: V3Result<Vec<ConfigOp>>,
    validate_only: Option<bool>,
) -> V3Result<Applied> {
    auth.0.require(Role::Client)?;
    let ctx = Ctx::open(state, req, cluster_id).await?;
    let dry_run = validate_only.unwrap_or(false);
    super::audit(
        req,
        json!({ "clusterId": ctx.cluster_id, "topic": topic, "validateOnly": dry_run,
                "configs": ops.as_ref().map(|o| o.iter().map(|c| c.name.clone()).collect::<Vec<_>>()).unwrap_or_default() }),
    );
    let ops = ops?;
    validate_topic_ops(&ops)?;
    find_topic(&ctx, &topic).await?;
    if dry_run {
        return Ok(Applied::Done);
    }
    let change = ConfigChange {
        resource: ConfigResource::Topic(topic),
        ops,
    };
    let task = topic_admin::submit_config_change(
        &state.store,
        ctx.cluster_id,
        change,
        &[],
        &requester(&auth.0, req),
    )
    .await?;
    super::applied(state, &ctx.base, task).await
}
