//! `GET /v3/clusters` and `GET /v3/clusters/{cluster_id}`: the registered
//! Kafka clusters, with links to their ACLs, brokers, configs, groups,
//! topics and partition reassignments.

use ferry_entity::{ClusterId, ClusterKind, Role};
use ferry_service::{
    clusters::{self, ClusterView},
    kafka::{admin, reachability},
};
use poem::Request;
use poem_openapi::{OpenApi, param::Path, payload::Json};

use super::{
    ConfluentError, Ctx, READ_TIMEOUT, Related, ResourceMetadata, V3Result, base_url, list_meta,
    list_type, related,
};
use crate::{api_tags::ApiTags, auth::BearerAuth, state::AppState};

#[derive(Debug, poem_openapi::Object)]
pub struct KafkaCluster {
    /// `KafkaCluster`.
    pub kind: String,
    pub metadata: ResourceMetadata,
    /// ferry's id of the cluster.
    pub cluster_id: String,
    /// The controller broker; null when the cluster does not answer in time.
    #[oai(nullable)]
    pub controller: Option<Related>,
    pub acls: Related,
    pub brokers: Related,
    pub broker_configs: Related,
    pub consumer_groups: Related,
    pub topics: Related,
    pub partition_reassignments: Related,
}

list_type!(KafkaClusterList, KafkaCluster);

fn view(base: &str, id: ClusterId, controller: Option<i32>) -> KafkaCluster {
    let url = format!("{base}/v3/clusters/{id}");
    KafkaCluster {
        kind: "KafkaCluster".into(),
        metadata: ResourceMetadata {
            self_: url.clone(),
            resource_name: Some(format!("crn:///kafka={id}")),
        },
        cluster_id: id.to_string(),
        controller: controller.map(|b| related(format!("{url}/brokers/{b}"))),
        acls: related(format!("{url}/acls")),
        brokers: related(format!("{url}/brokers")),
        broker_configs: related(format!("{url}/broker-configs")),
        consumer_groups: related(format!("{url}/consumer-groups")),
        topics: related(format!("{url}/topics")),
        partition_reassignments: related(format!("{url}/topics/-/partitions/-/reassignment")),
    }
}

pub struct ConfluentClustersApi;

#[OpenApi(prefix_path = "/v3/clusters", tag = "ApiTags::Confluent")]
impl ConfluentClustersApi {
    /// List the registered Kafka clusters.
    #[oai(path = "/", method = "get")]
    async fn list(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
    ) -> V3Result<Json<KafkaClusterList>> {
        auth.0.require(Role::Viewer)?;
        let base = base_url(req);
        let views = clusters::list(&state.store, Some(ClusterKind::Kafka))
            .await
            .map_err(ConfluentError::store)?
            .into_iter()
            .filter(|v| auth.0.reaches_cluster(v.id))
            .collect::<Vec<_>>();
        // Each cluster is asked for its controller at the same time, so one
        // unreachable cluster delays the list by one timeout, not by many.
        let data =
            futures::future::join_all(views.iter().map(|v| describe(&state, &base, v))).await;
        Ok(Json(KafkaClusterList {
            kind: "KafkaClusterList".into(),
            metadata: list_meta(format!("{base}/v3/clusters")),
            data,
        }))
    }

    /// One registered Kafka cluster.
    #[oai(path = "/:cluster_id", method = "get")]
    async fn get(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        cluster_id: Path<String>,
    ) -> V3Result<Json<KafkaCluster>> {
        auth.0.require(Role::Viewer)?;
        let ctx = Ctx::open(&state, req, &cluster_id.0).await?;
        let controller = admin::controller(&ctx.cluster, READ_TIMEOUT).await;
        Ok(Json(view(&ctx.base, ctx.cluster_id, controller)))
    }
}

/// One cluster of the list. A cluster that just did not answer is listed
/// without its controller at once (`reachability`), so that it does not hold
/// every list for a timeout while it is down.
async fn describe(state: &AppState, base: &str, cluster: &ClusterView) -> KafkaCluster {
    let controller = match state.kafka.get(&state.store, cluster.id).await {
        Ok(client) => reachability::listed_read(&client, async {
            admin::controller(&client, READ_TIMEOUT)
                .await
                .ok_or_else(|| "the cluster named no controller in time".to_owned())
        })
        .await
        .ok(),
        Err(_) => None,
    };
    view(base, cluster.id, controller)
}
