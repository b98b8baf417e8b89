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
//!   default broker resource returns). Changing them answers 501: Kafka
//!   addresses them as the broker resource with an empty name, which
//!   librdkafka refuses to send ("Expected an int32 broker_id"); change the
//!   config per broker instead.
//!
//! tansu 0.6 answers a broker-level DescribeConfigs with no configs at all (a
//! gap of the broker): on tansu the lists are empty and every change is
//! refused (422) for naming a config the broker does not report.

use ferry_entity::Role;
use ferry_worker::{
    kafka::admin::{self, AdminError, ConfigEntry, ConfigOp, ConfigOpKind, ConfigResource},
    topic_admin::{self, ConfigChange},
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
    topics::{describe, submit_error},
};
use crate::{api_tags::ApiTags, auth::BearerAuth, state::AppState};

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

    /// Set one config of a broker (a `broker.config` task).
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

    /// Reset one config of a broker (a `broker.config` task).
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

    /// Set or reset several configs of a broker (a `broker.config` task).
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

    /// Not supported: see the module documentation (501).
    #[oai(path = "/:cluster_id/broker-configs/:name", method = "put")]
    async fn cluster_update(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        cluster_id: Path<String>,
        _name: Path<String>,
        _body: Json<UpdateConfigRequest>,
    ) -> V3Result<Applied> {
        cluster_change(&state, &auth, req, &cluster_id.0).await
    }

    /// Not supported: see the module documentation (501).
    #[oai(path = "/:cluster_id/broker-configs/:name", method = "delete")]
    async fn cluster_reset(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        cluster_id: Path<String>,
        _name: Path<String>,
    ) -> V3Result<Applied> {
        cluster_change(&state, &auth, req, &cluster_id.0).await
    }

    /// Not supported: see the module documentation (501).
    #[oai(path = "/:cluster_id/broker-configs:alter", method = "post")]
    async fn cluster_alter(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        cluster_id: Path<String>,
        _body: Json<AlterConfigsRequest>,
    ) -> V3Result<Applied> {
        require_alter_suffix(req)?;
        cluster_change(&state, &auth, req, &cluster_id.0).await
    }
}

async fn cluster_change(
    state: &AppState,
    auth: &BearerAuth,
    req: &Request,
    cluster_id: &str,
) -> V3Result<Applied> {
    auth.0.require(Role::Client)?;
    Ctx::open(state, req, cluster_id).await?;
    Err(ConfluentError::not_implemented(
        "cluster-wide broker configs cannot be changed through ferry: Kafka addresses them as \
         the broker resource with an empty name, which librdkafka refuses to send; change the \
         config on each broker with PUT /v3/clusters/{cluster_id}/brokers/{broker_id}/configs/{name}",
    ))
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
    auth.0.require(Role::Client)?;
    let ctx = Ctx::open(state, req, cluster_id).await?;
    super::audit(
        req,
        json!({ "clusterId": ctx.cluster_id, "broker": raw_broker, "validateOnly": dry_run,
                "configs": ops.as_ref().map(|o| o.iter().map(|c| c.name.clone()).collect::<Vec<_>>()).unwrap_or_default() }),
    );
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
        if op.operation == ConfigOpKind::Set && op.value.as_deref().is_some_and(str::is_empty) {
            return Err(ConfluentError::invalid(format!(
                "config `{}`: value must not be empty (DELETE resets it)",
                op.name
            )));
        }
    }
    if dry_run {
        return Ok(Applied::Done);
    }
    let change = ConfigChange {
        resource: ConfigResource::Broker(broker),
        ops,
    };
    let task = topic_admin::submit_config_change(
        &state.store,
        ctx.cluster_id,
        change,
        super::requester(auth, req),
    )
    .await
    .map_err(submit_error)?;
    super::applied(state, &ctx.base, task).await
}
