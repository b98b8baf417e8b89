//! Partitions and replicas of a topic, from the cluster's metadata: leader,
//! replicas and in-sync replicas, and each partition's beginning and end
//! offsets.
//!
//! - `GET .../topics/{topic_name}/partitions` and `.../partitions/{partition_id}`
//! - `GET .../partitions/{partition_id}/offsets`: `beginning_offset` and
//!   `end_offset`, as REST Proxy v2's route of the same name (v3 has none).
//! - `GET .../partitions/{partition_id}/replicas` and `.../replicas/{broker_id}`
//!
//! A partition's `reassignment` link is served by `reassignments.rs`.

use ferry_entity::Role;
use ferry_service::kafka::admin::{self, OffsetSpec, PartitionInfo, TopicInfo};
use poem::Request;
use poem_openapi::{Object, OpenApi, param::Path, payload::Json};

use super::{
    ConfluentError, Ctx, READ_TIMEOUT, Related, ResourceMetadata, V3Result, list_meta, list_type,
    parse_index, related, seg, topics::find_topic,
};
use crate::{api_tags::ApiTags, auth::BearerAuth, state::AppState};

#[derive(Debug, Object)]
pub struct KafkaPartition {
    /// `KafkaPartition`.
    pub kind: String,
    pub metadata: ResourceMetadata,
    pub cluster_id: String,
    pub topic_name: String,
    pub partition_id: i32,
    /// The leader's replica; null while the partition has no leader.
    #[oai(nullable)]
    pub leader: Option<Related>,
    pub replicas: Related,
    pub reassignment: Related,
}

list_type!(KafkaPartitionList, KafkaPartition);

#[derive(Debug, Object)]
pub struct KafkaPartitionOffsets {
    /// `KafkaPartitionOffsets`.
    pub kind: String,
    pub metadata: ResourceMetadata,
    pub cluster_id: String,
    pub topic_name: String,
    pub partition_id: i32,
    /// The first offset still in the partition.
    pub beginning_offset: i64,
    /// The offset the next record will get (the high watermark).
    pub end_offset: i64,
}

#[derive(Debug, Object)]
pub struct KafkaReplica {
    /// `KafkaReplica`.
    pub kind: String,
    pub metadata: ResourceMetadata,
    pub cluster_id: String,
    pub topic_name: String,
    pub partition_id: i32,
    pub broker_id: i32,
    pub is_leader: bool,
    /// Whether the replica is in the partition's ISR.
    pub is_in_sync: bool,
    pub broker: Related,
}

list_type!(KafkaReplicaList, KafkaReplica);

fn partition_path(topic: &str, id: i32) -> String {
    format!("/topics/{}/partitions/{id}", seg(topic))
}

pub fn partition_view(ctx: &Ctx, topic: &str, p: &PartitionInfo) -> KafkaPartition {
    let path = partition_path(topic, p.id);
    KafkaPartition {
        kind: "KafkaPartition".into(),
        metadata: ctx.meta(&path, &format!("/topic={topic}/partition={}", p.id)),
        cluster_id: ctx.cluster_id(),
        topic_name: topic.to_owned(),
        partition_id: p.id,
        leader: p
            .leader
            .map(|b| related(ctx.url(&format!("{path}/replicas/{b}")))),
        replicas: related(ctx.url(&format!("{path}/replicas"))),
        reassignment: related(ctx.url(&format!("{path}/reassignment"))),
    }
}

pub fn replica_view(ctx: &Ctx, topic: &str, p: &PartitionInfo, broker: i32) -> KafkaReplica {
    let path = format!("{}/replicas/{broker}", partition_path(topic, p.id));
    KafkaReplica {
        kind: "KafkaReplica".into(),
        metadata: ctx.meta(
            &path,
            &format!("/topic={topic}/partition={}/replica={broker}", p.id),
        ),
        cluster_id: ctx.cluster_id(),
        topic_name: topic.to_owned(),
        partition_id: p.id,
        broker_id: broker,
        is_leader: p.leader == Some(broker),
        is_in_sync: p.isr.contains(&broker),
        broker: related(ctx.url(&format!("/brokers/{broker}"))),
    }
}

/// The replicas of a partition: the replica list, or, when a broker reports
/// none (tansu 0.6 may not), the leader alone.
pub fn replica_ids(p: &PartitionInfo) -> Vec<i32> {
    if p.replicas.is_empty() {
        p.leader.into_iter().collect()
    } else {
        p.replicas.clone()
    }
}

pub async fn find_partition(
    ctx: &Ctx,
    topic: &str,
    raw: &str,
) -> V3Result<(TopicInfo, PartitionInfo)> {
    let (_, t) = find_topic(ctx, topic).await?;
    let p = pick_partition(&t, raw)?;
    Ok((t, p))
}

/// The topic's partition whose id is `raw`, or 40402.
pub fn pick_partition(t: &TopicInfo, raw: &str) -> V3Result<PartitionInfo> {
    parse_index(raw)
        .and_then(|id| t.partition(id).cloned())
        .ok_or_else(|| ConfluentError::partition_not_found(&t.name, raw))
}

/// A partition's first offset and the offset its next record will get.
pub async fn partition_offsets(ctx: &Ctx, topic: &str, partition: i32) -> V3Result<(i64, i64)> {
    let key = (topic.to_owned(), partition);
    let (first, end) = tokio::join!(
        admin::offsets(
            &ctx.cluster,
            vec![key.clone()],
            OffsetSpec::Earliest,
            READ_TIMEOUT
        ),
        admin::offsets(
            &ctx.cluster,
            vec![key.clone()],
            OffsetSpec::Latest,
            READ_TIMEOUT
        ),
    );
    let read = |found: Result<_, _>, which: &str| -> V3Result<i64> {
        let doing = format!("reading the {which} offset of partition {partition} of '{topic}'");
        let found: std::collections::HashMap<_, admin::PartitionOffset> =
            found.map_err(|e| ConfluentError::kafka(&doing, e))?;
        let entry = found.get(&key);
        entry.and_then(|o| o.offset).ok_or_else(|| {
            let why = entry
                .and_then(|o| o.error.clone())
                .unwrap_or_else(|| "the leader did not report it".into());
            ConfluentError::kafka(&doing, admin::AdminError::Invalid(why))
        })
    };
    Ok((read(first, "beginning")?, read(end, "end")?))
}

pub struct ConfluentPartitionsApi;

#[OpenApi(prefix_path = "/v3/clusters", tag = "ApiTags::Confluent")]
impl ConfluentPartitionsApi {
    /// List a topic's partitions.
    #[oai(path = "/:cluster_id/topics/:topic_name/partitions", method = "get")]
    async fn list(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        cluster_id: Path<String>,
        topic_name: Path<String>,
    ) -> V3Result<Json<KafkaPartitionList>> {
        auth.0.require(Role::Viewer)?;
        let ctx = Ctx::open(&state, req, &cluster_id.0).await?;
        let (_, t) = find_topic(&ctx, &topic_name.0).await?;
        Ok(Json(KafkaPartitionList {
            kind: "KafkaPartitionList".into(),
            metadata: list_meta(ctx.url(&format!("/topics/{}/partitions", seg(&t.name)))),
            data: t
                .partitions
                .iter()
                .map(|p| partition_view(&ctx, &t.name, p))
                .collect(),
        }))
    }

    /// One partition.
    #[oai(
        path = "/:cluster_id/topics/:topic_name/partitions/:partition_id",
        method = "get"
    )]
    async fn get(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        cluster_id: Path<String>,
        topic_name: Path<String>,
        partition_id: Path<String>,
    ) -> V3Result<Json<KafkaPartition>> {
        auth.0.require(Role::Viewer)?;
        let ctx = Ctx::open(&state, req, &cluster_id.0).await?;
        let (t, p) = find_partition(&ctx, &topic_name.0, &partition_id.0).await?;
        Ok(Json(partition_view(&ctx, &t.name, &p)))
    }

    /// A partition's beginning and end offsets.
    #[oai(
        path = "/:cluster_id/topics/:topic_name/partitions/:partition_id/offsets",
        method = "get"
    )]
    async fn offsets(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        cluster_id: Path<String>,
        topic_name: Path<String>,
        partition_id: Path<String>,
    ) -> V3Result<Json<KafkaPartitionOffsets>> {
        auth.0.require(Role::Viewer)?;
        let ctx = Ctx::open(&state, req, &cluster_id.0).await?;
        let (t, p) = find_partition(&ctx, &topic_name.0, &partition_id.0).await?;
        let (beginning_offset, end_offset) = partition_offsets(&ctx, &t.name, p.id).await?;
        let path = format!("{}/offsets", partition_path(&t.name, p.id));
        Ok(Json(KafkaPartitionOffsets {
            kind: "KafkaPartitionOffsets".into(),
            metadata: ctx.meta(
                &path,
                &format!("/topic={}/partition={}/offsets", t.name, p.id),
            ),
            cluster_id: ctx.cluster_id(),
            topic_name: t.name.clone(),
            partition_id: p.id,
            beginning_offset,
            end_offset,
        }))
    }

    /// A partition's replicas, with leadership and ISR membership.
    #[oai(
        path = "/:cluster_id/topics/:topic_name/partitions/:partition_id/replicas",
        method = "get"
    )]
    async fn replicas(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        cluster_id: Path<String>,
        topic_name: Path<String>,
        partition_id: Path<String>,
    ) -> V3Result<Json<KafkaReplicaList>> {
        auth.0.require(Role::Viewer)?;
        let ctx = Ctx::open(&state, req, &cluster_id.0).await?;
        let (t, p) = find_partition(&ctx, &topic_name.0, &partition_id.0).await?;
        Ok(Json(KafkaReplicaList {
            kind: "KafkaReplicaList".into(),
            metadata: list_meta(ctx.url(&format!("{}/replicas", partition_path(&t.name, p.id)))),
            data: replica_ids(&p)
                .into_iter()
                .map(|b| replica_view(&ctx, &t.name, &p, b))
                .collect(),
        }))
    }

    /// The replica of a partition on one broker.
    #[oai(
        path = "/:cluster_id/topics/:topic_name/partitions/:partition_id/replicas/:broker_id",
        method = "get"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn replica(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        cluster_id: Path<String>,
        topic_name: Path<String>,
        partition_id: Path<String>,
        broker_id: Path<String>,
    ) -> V3Result<Json<KafkaReplica>> {
        auth.0.require(Role::Viewer)?;
        let ctx = Ctx::open(&state, req, &cluster_id.0).await?;
        let (t, p) = find_partition(&ctx, &topic_name.0, &partition_id.0).await?;
        let broker = parse_index(&broker_id.0)
            .filter(|b| replica_ids(&p).contains(b))
            .ok_or_else(|| {
                ConfluentError::not_found(
                    404,
                    format!(
                        "Partition {} of topic '{}' has no replica on broker {}.",
                        p.id, t.name, broker_id.0
                    ),
                )
            })?;
        Ok(Json(replica_view(&ctx, &t.name, &p, broker)))
    }
}
