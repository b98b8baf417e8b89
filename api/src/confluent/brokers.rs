//! `GET .../brokers`, `GET .../brokers/{broker_id}` and
//! `GET .../brokers/{broker_id}/partition-replicas`, from the cluster's
//! metadata, and `DELETE .../brokers/{broker_id}` (broker removal,
//! `remove_brokers.rs`). Broker configs are in `configs`.

use std::{collections::BTreeMap, time::Duration};

use ferry_entity::Role;
use ferry_service::kafka::admin::{self, BrokerInfo, ClusterDescription};
use poem::Request;
use poem_openapi::{
    Object, OpenApi,
    param::{Path, Query},
    payload::Json,
};

use super::{
    Applied, ConfluentError, Ctx, Related, ResourceMetadata, V3Result, list_meta, list_type,
    parse_index,
    partitions::{KafkaReplicaList, replica_ids, replica_view},
    related,
    topics::describe,
};
use crate::{api_tags::ApiTags, auth::BearerAuth, state::AppState};

#[derive(Debug, Object)]
pub struct KafkaBroker {
    /// `KafkaBroker`.
    pub kind: String,
    pub metadata: ResourceMetadata,
    pub cluster_id: String,
    pub broker_id: i32,
    pub host: String,
    pub port: i32,
    /// The broker's `broker.rack`, from DescribeCluster; null when it has
    /// none or the cluster did not say in time.
    #[oai(nullable)]
    pub rack: Option<String>,
    pub configs: Related,
    pub partition_replicas: Related,
}

list_type!(KafkaBrokerList, KafkaBroker);

/// Each broker's rack. librdkafka's Metadata leaves racks out, so they come
/// from a DescribeCluster call; a cluster that does not answer it only costs
/// the racks, not the listing.
async fn racks(ctx: &Ctx) -> BTreeMap<i32, Option<String>> {
    admin::broker_racks(&ctx.cluster, RACKS_TIMEOUT)
        .await
        .unwrap_or_default()
}

const RACKS_TIMEOUT: Duration = Duration::from_secs(3);

fn view(ctx: &Ctx, b: &BrokerInfo, racks: &BTreeMap<i32, Option<String>>) -> KafkaBroker {
    let path = format!("/brokers/{}", b.id);
    KafkaBroker {
        kind: "KafkaBroker".into(),
        metadata: ctx.meta(&path, &format!("/broker={}", b.id)),
        cluster_id: ctx.cluster_id(),
        broker_id: b.id,
        host: b.host.clone(),
        port: b.port,
        rack: racks.get(&b.id).cloned().flatten(),
        configs: related(ctx.url(&format!("{path}/configs"))),
        partition_replicas: related(ctx.url(&format!("{path}/partition-replicas"))),
    }
}

/// The broker with this id, or 404.
pub fn find_broker(described: &ClusterDescription, raw: &str) -> V3Result<BrokerInfo> {
    parse_index(raw)
        .and_then(|id| described.broker(id).cloned())
        .ok_or_else(|| ConfluentError::not_found(404, format!("Broker {raw} cannot be found.")))
}

pub struct ConfluentBrokersApi;

#[OpenApi(prefix_path = "/v3/clusters", tag = "ApiTags::Confluent")]
impl ConfluentBrokersApi {
    /// List the cluster's brokers.
    #[oai(path = "/:cluster_id/brokers", method = "get")]
    async fn list(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        cluster_id: Path<String>,
    ) -> V3Result<Json<KafkaBrokerList>> {
        auth.0.require(Role::Viewer)?;
        let ctx = Ctx::open(&state, req, &cluster_id.0).await?;
        let described = describe(&ctx).await?;
        let racks = racks(&ctx).await;
        Ok(Json(KafkaBrokerList {
            kind: "KafkaBrokerList".into(),
            metadata: list_meta(ctx.url("/brokers")),
            data: described
                .brokers
                .iter()
                .map(|b| view(&ctx, b, &racks))
                .collect(),
        }))
    }

    /// One broker.
    #[oai(path = "/:cluster_id/brokers/:broker_id", method = "get")]
    async fn get(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        cluster_id: Path<String>,
        broker_id: Path<String>,
    ) -> V3Result<Json<KafkaBroker>> {
        auth.0.require(Role::Viewer)?;
        let ctx = Ctx::open(&state, req, &cluster_id.0).await?;
        let described = describe(&ctx).await?;
        let broker = find_broker(&described, &broker_id.0)?;
        Ok(Json(view(&ctx, &broker, &racks(&ctx).await)))
    }

    /// Remove a broker: move every replica off it (a `broker.remove` task,
    /// `remove_brokers.rs`). 204 once done; 202 with the task while the
    /// moves last.
    #[oai(path = "/:cluster_id/brokers/:broker_id", method = "delete")]
    async fn remove(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        cluster_id: Path<String>,
        broker_id: Path<String>,
        /// The most bytes per second each involved broker spends copying
        /// replicas (ferry's addition); unset: unthrottled. At most 2^53 - 1,
        /// the largest integer every JSON client reads exactly.
        #[oai(validator(minimum(value = "1"), maximum(value = "9007199254740991")))]
        throttle_bytes_per_second: Query<Option<u64>>,
    ) -> V3Result<Applied> {
        super::remove_brokers::remove(
            &state,
            &auth,
            req,
            &cluster_id.0,
            &broker_id.0,
            throttle_bytes_per_second.0,
        )
        .await
    }

    /// The partition replicas a broker holds.
    #[oai(
        path = "/:cluster_id/brokers/:broker_id/partition-replicas",
        method = "get"
    )]
    async fn replicas(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        cluster_id: Path<String>,
        broker_id: Path<String>,
    ) -> V3Result<Json<KafkaReplicaList>> {
        auth.0.require(Role::Viewer)?;
        let ctx = Ctx::open(&state, req, &cluster_id.0).await?;
        let described = describe(&ctx).await?;
        let broker = find_broker(&described, &broker_id.0)?;
        let data = described
            .topics
            .iter()
            .filter(|t| t.error.is_none() && ctx.sees(&t.name))
            .flat_map(|t| {
                t.partitions
                    .iter()
                    .filter(|p| replica_ids(p).contains(&broker.id))
                    .map(|p| replica_view(&ctx, &t.name, p, broker.id))
            })
            .collect();
        Ok(Json(KafkaReplicaList {
            kind: "KafkaReplicaList".into(),
            metadata: list_meta(ctx.url(&format!("/brokers/{}/partition-replicas", broker.id))),
            data,
        }))
    }
}
