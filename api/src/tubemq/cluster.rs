//! `/v1/cluster`: list Kafka clusters with live counts; add, modify, delete.

use std::time::Duration;

use ferry_entity::{ClusterId, ClusterKind, Role};
use ferry_service::{
    clusters::{self, ClusterInput, ClusterView},
    kafka::{INSPECT_TIMEOUT, metadata, reachability},
    store::Store,
};
use poem::Request;
use poem_openapi::{Object, OpenApi, param::Query, payload::Json};
use secrecy::SecretString;
use serde_json::{Value, json};

use super::{TubeResponse, TubeStep, answer, cluster_id};
use crate::{auth::BearerAuth, middleware::audit::AuditNote, state::AppState};

/// Body of `POST /v1/cluster?method=add|modify|delete`.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct ClusterCommand {
    /// Required for modify and delete; a number or a string.
    #[oai(nullable)]
    pub cluster_id: Option<Value>,
    #[oai(nullable)]
    pub cluster_name: Option<String>,
    /// `host:port,...`; or give `masterIp` (and `masterPort`, default 9092).
    #[oai(nullable)]
    pub bootstrap_servers: Option<String>,
    #[oai(nullable)]
    pub master_ip: Option<String>,
    #[oai(nullable, validator(minimum(value = "1"), maximum(value = "65535")))]
    pub master_port: Option<u16>,
    #[oai(nullable)]
    pub sasl_mechanism: Option<String>,
    #[oai(nullable)]
    pub sasl_username: Option<String>,
    #[oai(nullable)]
    pub sasl_password: Option<String>,
    #[oai(nullable)]
    pub user: Option<String>,
}

pub struct TubeClusterApi;

#[OpenApi(tag = "crate::api_tags::ApiTags::TubeMq")]
impl TubeClusterApi {
    /// Kafka clusters with live broker, topic, partition and consumer group
    /// counts. An unreachable cluster is listed with its error.
    #[oai(path = "/v1/cluster", method = "get")]
    async fn list(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        #[oai(name = "clusterId")] cluster: Query<Option<String>>,
    ) -> TubeResponse {
        answer(list(&state, &auth, cluster.0).await)
    }

    /// Manage clusters: `method=add`, `modify` or `delete` (global admins).
    #[oai(path = "/v1/cluster", method = "post")]
    async fn command(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        method: Query<Option<String>>,
        body: Json<ClusterCommand>,
    ) -> TubeResponse {
        answer(command(&state, &auth, req, method.0.as_deref(), body.0).await)
    }
}

async fn list(
    state: &AppState,
    auth: &BearerAuth,
    filter: Option<String>,
) -> TubeStep<TubeResponse> {
    auth.0.require(Role::Viewer)?;
    let views = match filter.as_deref().filter(|s| !s.is_empty()) {
        Some(raw) => {
            let id = cluster_id(Some(&Value::String(raw.to_owned())))?;
            auth.0.see_cluster(id)?;
            let view = clusters::get(&state.store, id).await?;
            if view.kind != ClusterKind::Kafka {
                return Err(TubeResponse::no_such_cluster());
            }
            vec![view]
        }
        None => clusters::list(&state.store, Some(ClusterKind::Kafka))
            .await?
            .into_iter()
            .filter(|v| auth.0.reaches_cluster(v.id))
            .collect(),
    };
    let rows = futures::future::join_all(views.into_iter().map(|v| describe(state, v))).await;
    // The seed answers `data` as a JSON-encoded string, and clients parse it
    // as one.
    Ok(TubeResponse::success(Value::String(
        Value::Array(rows).to_string(),
    )))
}

/// One cluster's entry, with live counts when it answers in time.
async fn describe(state: &AppState, view: ClusterView) -> Value {
    let mut row = json!({
        "clusterId": view.id,
        "clusterName": view.name,
        "masterIp": view.primary_host(),
        "bootstrapServers": view.settings.bootstrap_servers,
    });
    let counts = async {
        let cluster = state
            .kafka
            .get(&state.store, view.id)
            .await
            .map_err(|e| e.to_string())?;
        // A cluster that just did not answer is listed as unreachable at
        // once (`reachability`): it does not hold every list for a timeout
        // while it is down.
        reachability::listed_read(&cluster, async {
            let (snapshot, groups) = tokio::join!(
                metadata::snapshot(&cluster, None, INSPECT_TIMEOUT),
                metadata::consumer_group_count(&cluster, INSPECT_TIMEOUT)
            );
            let snapshot = snapshot.map_err(|e| format!("cluster unreachable: {e}"))?;
            let user_topics: Vec<_> = snapshot
                .topics
                .iter()
                .filter(|t| !t.name.starts_with("__"))
                .collect();
            Ok(json!({
                "brokerCount": snapshot.broker_ids.len(),
                "topicCount": user_topics.len(),
                "partitionCount": user_topics.iter().map(|t| t.partitions).sum::<usize>(),
                "consumerGroupCount": groups.ok(),
            }))
        })
        .await
    };
    // The whole entry is bounded, whatever librdkafka does with its own timeouts.
    let outcome = tokio::time::timeout(INSPECT_TIMEOUT + Duration::from_secs(1), counts)
        .await
        .unwrap_or_else(|_| Err("cluster did not answer in time".into()));
    let map = row.as_object_mut().expect("row is an object");
    match outcome {
        Ok(Value::Object(counts)) => {
            map.extend(counts);
            map.insert("reachable".into(), Value::Bool(true));
        }
        Ok(_) => {}
        Err(error) => {
            for key in [
                "brokerCount",
                "topicCount",
                "partitionCount",
                "consumerGroupCount",
            ] {
                map.insert(key.into(), Value::Null);
            }
            map.insert("reachable".into(), Value::Bool(false));
            map.insert("error".into(), Value::String(error));
        }
    }
    row
}

async fn command(
    state: &AppState,
    auth: &BearerAuth,
    req: &Request,
    method: Option<&str>,
    body: ClusterCommand,
) -> TubeStep<TubeResponse> {
    auth.0.require_global(Role::Admin)?;
    if let Some(note) = req.extensions().get::<AuditNote>() {
        note.set(json!({ "user": body.user, "method": method }));
    }
    let bootstrap = body.bootstrap_servers.clone().or_else(|| {
        body.master_ip
            .as_ref()
            .map(|ip| format!("{ip}:{}", body.master_port.unwrap_or(9092)))
    });
    let input = ClusterInput {
        name: body.cluster_name.clone(),
        bootstrap_servers: bootstrap,
        sasl_mechanism: body.sasl_mechanism.clone(),
        sasl_username: body.sasl_username.clone(),
        sasl_password: body.sasl_password.clone().map(SecretString::from),
        ..Default::default()
    };
    let store = &state.store;
    let outcome = match method {
        Some("add") => clusters::create(
            store,
            ClusterInput {
                kind: Some("kafka".into()),
                ..input
            },
        )
        .await
        .inspect(|_| state.clusters_changed(None)),
        Some("modify") => {
            let id = cluster_id(body.cluster_id.as_ref())?;
            ensure_kafka(store, id).await?;
            let updated = clusters::update(store, id, input).await;
            if updated.is_ok() {
                state.clusters_changed(Some(id));
            }
            updated
        }
        Some("delete") => {
            let id = cluster_id(body.cluster_id.as_ref())?;
            ensure_kafka(store, id).await?;
            let removed = clusters::delete(store, id).await;
            if removed.is_ok() {
                state.clusters_changed(Some(id));
            }
            removed
        }
        _ => return Ok(TubeResponse::no_such_method()),
    };
    let view = outcome?;
    Ok(TubeResponse::success(
        json!({ "clusterId": view.id, "clusterName": view.name }),
    ))
}

async fn ensure_kafka(store: &Store, id: ClusterId) -> TubeStep<()> {
    if clusters::get(store, id).await?.kind != ClusterKind::Kafka {
        return Err(TubeResponse::no_such_cluster());
    }
    Ok(())
}
