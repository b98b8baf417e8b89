//! Broker and cluster configs.
//!
//! - `/v3/clusters/{cluster_id}/brokers/{broker_id}/configs[/{name}]`: list,
//!   get, update (`PUT`), reset (`DELETE`), batch alter (`POST
//!   .../configs:alter`). Changes are `broker.config` tasks. ferry keeps no
//!   table of broker configs, so a change is checked against the broker's own
//!   DescribeConfigs: the name must be one it reports and not read-only.
//! - `/v3/clusters/{cluster_id}/broker-configs[/{name}]`: the cluster-wide
//!   dynamic defaults, read from a broker's config synonyms of source
//!   `DYNAMIC_DEFAULT_BROKER_CONFIG` (what Kafka's DescribeConfigs of the
//!   default broker resource returns). Changes are `broker.config` tasks on
//!   subject `cluster`, checked against Kafka's list of cluster-wide configs
//!   (`kafka::broker_default_config`). Kafka addresses these configs as the
//!   broker resource with an empty name, which librdkafka refuses to send, so
//!   the task sends its request through `kafka::wire`.
//!
//! tansu 0.6 answers a broker-level DescribeConfigs with no configs at all (a
//! gap of the broker): on tansu the lists are empty and every per-broker
//! change is refused (422) for naming a config the broker does not report.
//! tansu accepts a cluster-wide change and keeps nothing (another gap).

use ferry_entity::Role;
use ferry_entity::payload::ConfigChange;
use ferry_service::{
    kafka::{
        admin::{self, AdminError, ConfigEntry, ConfigOp, ConfigOpKind, ConfigResource},
        broker_default_config,
    },
    topics::admin as topic_admin,
};
use poem::Request;
use poem_openapi::{OpenApi, param::Path, param::Query, payload::Json};
use serde_json::json;

use super::{
    Applied, ConfluentError, Ctx, READ_TIMEOUT, V3Result,
    brokers::find_broker,
    configs::{
        AlterConfigsRequest, KafkaConfig, KafkaConfigList, Scope, UpdateConfigRequest, parse_alter,
        require_alter_suffix, reset_one, set_one,
    },
    topics::describe,
};
use crate::{api_tags::ApiTags, auth::BearerAuth, edge::requester, state::AppState};

/// The configs of a broker, which must exist.
async fn broker_configs(ctx: &Ctx, raw_broker: &str) -> V3Result<(i32, Vec<ConfigEntry>)> {
    let described = describe(ctx).await?;
    let broker = find_broker(&described, raw_broker)?.id;
    let entries =
        admin::describe_configs(&ctx.cluster, ConfigResource::Broker(broker), READ_TIMEOUT)
            .await
            .map_err(|e| describe_error(broker, e))?;
    Ok((broker, entries))
}

fn describe_error(broker: i32, err: AdminError) -> ConfluentError {
    let hint = if matches!(err, AdminError::Timeout(_)) {
        " (a broker that does not implement broker-level DescribeConfigs may never answer it)"
    } else {
        ""
    };
    ConfluentError::kafka(
        &format!("reading the configs of broker {broker}{hint}"),
        err,
    )
}

/// The cluster-wide defaults, from the controller's (or the first broker's)
/// description: each config that has a `DYNAMIC_DEFAULT_BROKER_CONFIG`
/// synonym, with that value and the synonyms from it on.
async fn cluster_configs(ctx: &Ctx) -> V3Result<Vec<ConfigEntry>> {
    let described = describe(ctx).await?;
    let broker = described
        .controller
        .filter(|c| described.broker(*c).is_some())
        .or_else(|| described.brokers.first().map(|b| b.id))
        .ok_or_else(|| {
            ConfluentError::kafka(
                "reading the cluster configs",
                AdminError::Invalid("the cluster reports no brokers".into()),
            )
        })?;
    let entries =
        admin::describe_configs(&ctx.cluster, ConfigResource::Broker(broker), READ_TIMEOUT)
            .await
            .map_err(|e| describe_error(broker, e))?;
    Ok(entries
        .into_iter()
        .filter_map(|e| {
            let at = e
                .synonyms
                .iter()
                .position(|s| s.source == "DYNAMIC_DEFAULT_BROKER_CONFIG")?;
            let synonyms = e.synonyms[at..].to_vec();
            Some(ConfigEntry {
                value: synonyms[0].value.clone(),
                source: synonyms[0].source.clone(),
                is_default: false,
                synonyms,
                ..e
            })
        })
        .collect())
}

pub struct ConfluentBrokerConfigsApi;

#[OpenApi(prefix_path = "/v3/clusters", tag = "ApiTags::Confluent")]
impl ConfluentBrokerConfigsApi {
    /// List a broker's configs.
    #[oai(path = "/:cluster_id/brokers/:broker_id/configs", method = "get")]
    async fn list(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        cluster_id: Path<String>,
        broker_id: Path<String>,
    ) -> V3Result<Json<KafkaConfigList>> {
        auth.0.require(Role::Viewer)?;
        let ctx = Ctx::open(&state, req, &cluster_id.0).await?;
        let (broker, entries) = broker_configs(&ctx, &broker_id.0).await?;
        Ok(Json(Scope::Broker(broker).list(&ctx, &entries)))
    }

    /// One config of a broker.
    #[oai(path = "/:cluster_id/brokers/:broker_id/configs/:name", method = "get")]
    async fn get(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        cluster_id: Path<String>,
        broker_id: Path<String>,
        name: Path<String>,
    ) -> V3Result<Json<KafkaConfig>> {
        auth.0.require(Role::Viewer)?;
        let ctx = Ctx::open(&state, req, &cluster_id.0).await?;
        let (broker, entries) = broker_configs(&ctx, &broker_id.0).await?;
        Scope::Broker(broker)
            .find(&ctx, &entries, &name.0)
            .map(Json)
    }

    /// Set one config of a broker (a `broker.config` task); global admins.
    #[oai(path = "/:cluster_id/brokers/:broker_id/configs/:name", method = "put")]
    #[allow(clippy::too_many_arguments)]
    async fn update(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        cluster_id: Path<String>,
        broker_id: Path<String>,
        name: Path<String>,
        #[oai(name = "validate_only")] validate_only: Query<Option<bool>>,
        body: Json<UpdateConfigRequest>,
    ) -> V3Result<Applied> {
        let ops = set_one(name.0, body.0.value);
        let dry_run = validate_only.0.unwrap_or(false);
        change_broker(
            &state,
            &auth,
            req,
            &cluster_id.0,
            &broker_id.0,
            ops,
            dry_run,
        )
        .await
    }

    /// Reset one config of a broker (a `broker.config` task); global admins.
    #[oai(
        path = "/:cluster_id/brokers/:broker_id/configs/:name",
        method = "delete"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn reset(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        cluster_id: Path<String>,
        broker_id: Path<String>,
        name: Path<String>,
        #[oai(name = "validate_only")] validate_only: Query<Option<bool>>,
    ) -> V3Result<Applied> {
        let ops = reset_one(name.0);
        let dry_run = validate_only.0.unwrap_or(false);
        change_broker(
            &state,
            &auth,
            req,
            &cluster_id.0,
            &broker_id.0,
            ops,
            dry_run,
        )
        .await
    }

    /// Set or reset several configs of a broker (a `broker.config` task); global admins.
    #[oai(
        path = "/:cluster_id/brokers/:broker_id/configs:alter",
        method = "post"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn alter(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        cluster_id: Path<String>,
        broker_id: Path<String>,
        #[oai(name = "validate_only")] validate_only: Query<Option<bool>>,
        body: Json<AlterConfigsRequest>,
    ) -> V3Result<Applied> {
        require_alter_suffix(req)?;
        let dry_run = super::validate_only(validate_only.0, body.0.validate_only);
        let ops = parse_alter(&body.0);
        change_broker(
            &state,
            &auth,
            req,
            &cluster_id.0,
            &broker_id.0,
            ops,
            dry_run,
        )
        .await
    }

    /// List the cluster-wide dynamic broker defaults.
    #[oai(path = "/:cluster_id/broker-configs", method = "get")]
    async fn cluster_list(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        cluster_id: Path<String>,
    ) -> V3Result<Json<KafkaConfigList>> {
        auth.0.require(Role::Viewer)?;
        let ctx = Ctx::open(&state, req, &cluster_id.0).await?;
        let entries = cluster_configs(&ctx).await?;
        Ok(Json(Scope::Cluster.list(&ctx, &entries)))
    }

    /// One cluster-wide dynamic broker default.
    #[oai(path = "/:cluster_id/broker-configs/:name", method = "get")]
    async fn cluster_get(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        cluster_id: Path<String>,
        name: Path<String>,
    ) -> V3Result<Json<KafkaConfig>> {
        auth.0.require(Role::Viewer)?;
        let ctx = Ctx::open(&state, req, &cluster_id.0).await?;
        let entries = cluster_configs(&ctx).await?;
        Scope::Cluster.find(&ctx, &entries, &name.0).map(Json)
    }

    /// Set one cluster-wide default (a `broker.config` task on `cluster`); global admins.
    #[oai(path = "/:cluster_id/broker-configs/:name", method = "put")]
    #[allow(clippy::too_many_arguments)]
    async fn cluster_update(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        cluster_id: Path<String>,
        name: Path<String>,
        #[oai(name = "validate_only")] validate_only: Query<Option<bool>>,
        body: Json<UpdateConfigRequest>,
    ) -> V3Result<Applied> {
        let ops = set_one(name.0, body.0.value);
        let dry_run = validate_only.0.unwrap_or(false);
        change_cluster(&state, &auth, req, &cluster_id.0, ops, dry_run).await
    }

    /// Reset one cluster-wide default (a `broker.config` task on `cluster`); global admins.
    #[oai(path = "/:cluster_id/broker-configs/:name", method = "delete")]
    async fn cluster_reset(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        cluster_id: Path<String>,
        name: Path<String>,
        #[oai(name = "validate_only")] validate_only: Query<Option<bool>>,
    ) -> V3Result<Applied> {
        let ops = reset_one(name.0);
        let dry_run = validate_only.0.unwrap_or(false);
        change_cluster(&state, &auth, req, &cluster_id.0, ops, dry_run).await
    }

    /// Set or reset several cluster-wide defaults at once (global admins).
    #[oai(path = "/:cluster_id/broker-configs:alter", method = "post")]
    async fn cluster_alter(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        cluster_id: Path<String>,
        #[oai(name = "validate_only")] validate_only: Query<Option<bool>>,
        body: Json<AlterConfigsRequest>,
    ) -> V3Result<Applied> {
        require_alter_suffix(req)?;
        let dry_run = super::validate_only(validate_only.0, body.0.validate_only);
        let ops = parse_alter(&body.0);
        change_cluster(&state, &auth, req, &cluster_id.0, ops, dry_run).await
    }
}

/// A cluster-wide change: role, Kafka's list of cluster-wide configs and
/// their types (`broker_default_config`; the broker cannot be asked, see
/// there), then (unless a dry run) the task, which `kafka::wire` sends.
async fn change_cluster(
    state: &AppState,
    auth: &BearerAuth,
    req: &Request,
    cluster_id: &str,
    ops: V3Result<Vec<ConfigOp>>,
    dry_run: bool,
) -> V3Result<Applied> {
    // Broker-level and cluster-wide configs act on every topic of the
    // cluster (`log.retention.ms` deletes their data): global admins only.
    let ctx = Ctx::open(state, req, cluster_id).await?;
    auth.0.require_global(Role::Admin)?;
    audit_change(req, &ctx, "cluster", &ops, dry_run);
    let ops = ops?;
    for op in &ops {
        refuse_empty_value(op)?;
        broker_default_config::validate(&op.name, op.value.as_deref())
            .map_err(ConfluentError::invalid)?;
    }
    submit(
        state,
        auth,
        req,
        &ctx,
        ConfigChange {
            resource: ConfigResource::ClusterDefault,
            ops,
        },
        &[],
        dry_run,
    )
    .await
}

/// The common path of every broker config change: role, the broker's own
/// description of its configs (known names, not read-only), then (unless a
/// dry run) the task.
async fn change_broker(
    state: &AppState,
    auth: &BearerAuth,
    req: &Request,
    cluster_id: &str,
    raw_broker: &str,
    ops: V3Result<Vec<ConfigOp>>,
    dry_run: bool,
) -> V3Result<Applied> {
    // Broker-level and cluster-wide configs act on every topic of the
    // cluster (`log.retention.ms` deletes their data): global admins only.
    let ctx = Ctx::open(state, req, cluster_id).await?;
    auth.0.require_global(Role::Admin)?;
    audit_change(req, &ctx, raw_broker, &ops, dry_run);
    let ops = ops?;
    let (broker, entries) = broker_configs(&ctx, raw_broker).await?;
    for op in &ops {
        let entry = entries.iter().find(|e| e.name == op.name).ok_or_else(|| {
            ConfluentError::invalid(format!(
                "broker {broker} reports no config named `{}`",
                op.name
            ))
        })?;
        if entry.is_read_only {
            return Err(ConfluentError::invalid(format!(
                "config `{}` of broker {broker} is read-only: it can only be changed in the \
                 broker's own configuration, with a restart",
                op.name
            )));
        }
        refuse_empty_value(op)?;
    }
    let marked: Vec<String> = entries
        .iter()
        .filter(|e| e.is_sensitive)
        .map(|e| e.name.clone())
        .collect();
    submit(
        state,
        auth,
        req,
        &ctx,
        ConfigChange {
            resource: ConfigResource::Broker(broker),
            ops,
        },
        &marked,
        dry_run,
    )
    .await
}

fn audit_change(
    req: &Request,
    ctx: &Ctx,
    broker: &str,
    ops: &V3Result<Vec<ConfigOp>>,
    dry_run: bool,
) {
    let names: Vec<&str> = ops
        .as_ref()
        .map(|o| o.iter().map(|c| c.name.as_str()).collect())
        .unwrap_or_default();
    super::audit(
        req,
        json!({ "clusterId": ctx.cluster_id, "broker": broker, "validateOnly": dry_run, "configs": names }),
    );
}

fn refuse_empty_value(op: &ConfigOp) -> V3Result<()> {
    if op.operation == ConfigOpKind::Set && op.value.as_deref().is_some_and(str::is_empty) {
        return Err(ConfluentError::invalid(format!(
            "config `{}`: value must not be empty (DELETE resets it)",
            op.name
        )));
    }
    Ok(())
}

/// Queues the change as a task and answers as Confluent does, or answers
/// at once for a dry run.
async fn submit(
    state: &AppState,
    auth: &BearerAuth,
    req: &Request,
    ctx: &Ctx,
    change: ConfigChange,
    marked_sensitive: &[String],
    dry_run: bool,
) -> V3Result<Applied> {
    if dry_run {
        return Ok(Applied::Done);
    }
    let task = topic_admin::submit_config_change(
        &state.store,
        ctx.cluster_id,
        change,
        marked_sensitive,
        &requester(&auth.0, req),
    )
    .await?;
    super::applied(state, &ctx.base, task).await
}
