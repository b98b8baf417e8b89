//! Consumer lag: `/v3/clusters/{cluster_id}/consumer-groups/{group}/lags`
//! (per partition: committed offset, end offset, lag and the consumer it is
//! assigned to), one partition's lag, and `lag-summary` (the largest and the
//! total lag: the figures EasyQueue's consumer-group view shows as `totalLag`
//! and per-member partitions).
//!
//! Lag compares the group's committed offsets (ListConsumerGroupOffsets)
//! with the end offsets (ListOffsets) of those partitions, read together;
//! partitions the group never committed are not listed, as in Confluent's.

use ferry_entity::Role;
use ferry_service::kafka::admin::{self, GroupInfo, PartitionLag};
use poem::Request;
use poem_openapi::{Object, OpenApi, param::Path, payload::Json};

use super::{
    ConfluentError, Ctx, READ_TIMEOUT, Related, ResourceMetadata, V3Result,
    consumer_groups::{consumer_path, find_group, group_path},
    list_meta, list_type, parse_index, related, seg,
};
use crate::{api_tags::ApiTags, auth::BearerAuth, state::AppState};

#[derive(Debug, Object)]
pub struct KafkaConsumerLag {
    /// `KafkaConsumerLag`.
    pub kind: String,
    pub metadata: ResourceMetadata,
    pub cluster_id: String,
    pub consumer_group_id: String,
    pub topic_name: String,
    pub partition_id: i32,
    /// The group's committed offset.
    pub current_offset: i64,
    /// The partition's end offset (high watermark).
    pub log_end_offset: i64,
    pub lag: i64,
    /// The member the partition is assigned to; empty when none is.
    pub consumer_id: String,
    #[oai(nullable)]
    pub instance_id: Option<String>,
    pub client_id: String,
}

list_type!(KafkaConsumerLagList, KafkaConsumerLag);

#[derive(Debug, Object)]
pub struct KafkaConsumerGroupLagSummary {
    /// `KafkaConsumerGroupLagSummary`.
    pub kind: String,
    pub metadata: ResourceMetadata,
    pub cluster_id: String,
    pub consumer_group_id: String,
    pub max_lag_consumer_id: String,
    #[oai(nullable)]
    pub max_lag_instance_id: Option<String>,
    pub max_lag_client_id: String,
    pub max_lag_topic_name: String,
    pub max_lag_partition_id: i32,
    pub max_lag: i64,
    pub total_lag: i64,
    #[oai(nullable)]
    pub max_lag_consumer: Option<Related>,
    #[oai(nullable)]
    pub max_lag_partition: Option<Related>,
}

fn lag_view(ctx: &Ctx, g: &GroupInfo, l: &PartitionLag) -> KafkaConsumerLag {
    let path = format!(
        "{}/lags/{}/partitions/{}",
        group_path(&g.group_id),
        seg(&l.topic),
        l.partition
    );
    KafkaConsumerLag {
        kind: "KafkaConsumerLag".into(),
        metadata: ctx.meta(
            &path,
            &format!(
                "/consumer-group={}/lag={}/partition={}",
                g.group_id, l.topic, l.partition
            ),
        ),
        cluster_id: ctx.cluster_id(),
        consumer_group_id: g.group_id.clone(),
        topic_name: l.topic.clone(),
        partition_id: l.partition,
        current_offset: l.current_offset,
        log_end_offset: l.end_offset,
        lag: l.lag,
        consumer_id: l
            .member
            .as_ref()
            .map(|m| m.member_id.clone())
            .unwrap_or_default(),
        instance_id: None,
        client_id: l
            .member
            .as_ref()
            .map(|m| m.client_id.clone())
            .unwrap_or_default(),
    }
}

async fn lags(ctx: &Ctx, g: &GroupInfo) -> V3Result<Vec<PartitionLag>> {
    admin::group_lags(&ctx.cluster, g, READ_TIMEOUT)
        .await
        .map_err(|e| ConfluentError::kafka("reading the consumer group's offsets", e))
}

pub struct ConfluentLagsApi;

#[OpenApi(prefix_path = "/v3/clusters", tag = "ApiTags::Confluent")]
impl ConfluentLagsApi {
    /// Lag of every partition the group committed an offset for.
    #[oai(
        path = "/:cluster_id/consumer-groups/:consumer_group_id/lags",
        method = "get"
    )]
    async fn lags(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        cluster_id: Path<String>,
        consumer_group_id: Path<String>,
    ) -> V3Result<Json<KafkaConsumerLagList>> {
        auth.0.require(Role::Viewer)?;
        let ctx = Ctx::open(&state, req, &cluster_id.0).await?;
        let g = find_group(&ctx, &consumer_group_id.0).await?;
        let lags = lags(&ctx, &g).await?;
        Ok(Json(KafkaConsumerLagList {
            kind: "KafkaConsumerLagList".into(),
            metadata: list_meta(ctx.url(&format!("{}/lags", group_path(&g.group_id)))),
            data: lags.iter().map(|l| lag_view(&ctx, &g, l)).collect(),
        }))
    }

    /// Lag of one partition.
    #[oai(
        path = "/:cluster_id/consumer-groups/:consumer_group_id/lags/:topic_name/partitions/:partition_id",
        method = "get"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn lag(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        cluster_id: Path<String>,
        consumer_group_id: Path<String>,
        topic_name: Path<String>,
        partition_id: Path<String>,
    ) -> V3Result<Json<KafkaConsumerLag>> {
        auth.0.require(Role::Viewer)?;
        let ctx = Ctx::open(&state, req, &cluster_id.0).await?;
        let g = find_group(&ctx, &consumer_group_id.0).await?;
        let wanted = parse_index(&partition_id.0);
        lags(&ctx, &g)
            .await?
            .iter()
            .find(|l| l.topic == topic_name.0 && Some(l.partition) == wanted)
            .map(|l| Json(lag_view(&ctx, &g, l)))
            .ok_or_else(|| ConfluentError::partition_not_found(&topic_name.0, &partition_id.0))
    }

    /// The group's largest and total lag.
    #[oai(
        path = "/:cluster_id/consumer-groups/:consumer_group_id/lag-summary",
        method = "get"
    )]
    async fn lag_summary(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        cluster_id: Path<String>,
        consumer_group_id: Path<String>,
    ) -> V3Result<Json<KafkaConsumerGroupLagSummary>> {
        auth.0.require(Role::Viewer)?;
        let ctx = Ctx::open(&state, req, &cluster_id.0).await?;
        let g = find_group(&ctx, &consumer_group_id.0).await?;
        let lags = lags(&ctx, &g).await?;
        // The first partition with the largest lag, in topic and partition
        // order, so that the answer is stable across calls.
        let max = lags
            .iter()
            .fold(None::<&PartitionLag>, |best, l| match best {
                Some(b) if b.lag >= l.lag => Some(b),
                _ => Some(l),
            });
        let member = max.and_then(|l| l.member.as_ref());
        let path = format!("{}/lag-summary", group_path(&g.group_id));
        Ok(Json(KafkaConsumerGroupLagSummary {
            kind: "KafkaConsumerGroupLagSummary".into(),
            metadata: ctx.meta(
                &path,
                &format!("/consumer-group={}/lag-summary", g.group_id),
            ),
            cluster_id: ctx.cluster_id(),
            consumer_group_id: g.group_id.clone(),
            max_lag_consumer_id: member.map(|m| m.member_id.clone()).unwrap_or_default(),
            max_lag_instance_id: None,
            max_lag_client_id: member.map(|m| m.client_id.clone()).unwrap_or_default(),
            max_lag_topic_name: max.map(|l| l.topic.clone()).unwrap_or_default(),
            max_lag_partition_id: max.map_or(0, |l| l.partition),
            max_lag: max.map_or(0, |l| l.lag),
            total_lag: lags.iter().map(|l| l.lag).sum(),
            max_lag_consumer: member
                .map(|m| related(ctx.url(&consumer_path(&g.group_id, &m.member_id)))),
            max_lag_partition: max.map(|l| {
                related(ctx.url(&format!(
                    "/topics/{}/partitions/{}",
                    seg(&l.topic),
                    l.partition
                )))
            }),
        }))
    }
}
