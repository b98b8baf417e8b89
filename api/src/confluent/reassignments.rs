//! The replica moves in progress (ListPartitionReassignments, over ferry's
//! own connection: librdkafka does not offer it), in Confluent's
//! `KafkaReassignment` shape:
//!
//! - `GET .../topics/-/partitions/-/reassignment`: every one of the cluster
//!   (those of topics the caller sees);
//! - `GET .../topics/{topic_name}/partitions/-/reassignment`: a topic's;
//! - `GET .../topics/{topic_name}/partitions/{partition_id}/reassignment`:
//!   one partition's, 404 when none is in progress.
//!
//! The request goes to the controller when the cluster names one (Kafka
//! answers it there), else to the bootstrap servers.

use ferry_entity::Role;
use ferry_service::{
    clusters,
    kafka::{
        admin::ClusterDescription,
        wire::{
            WireTarget,
            reassignments::{self, Reassignment},
        },
    },
};
use poem::Request;
use poem_openapi::{Object, OpenApi, param::Path, payload::Json};

use super::{
    ConfluentError, Ctx, READ_TIMEOUT, Related, ResourceMetadata, V3Result, list_meta, list_type,
    partitions::pick_partition,
    related, seg,
    topics::{describe, find_topic},
};
use crate::{api_tags::ApiTags, auth::BearerAuth, state::AppState};

#[derive(Debug, Object)]
pub struct KafkaReassignment {
    /// `KafkaReassignment`.
    pub kind: String,
    pub metadata: ResourceMetadata,
    pub cluster_id: String,
    pub topic_name: String,
    pub partition_id: i32,
    pub adding_replicas: Vec<i32>,
    pub removing_replicas: Vec<i32>,
    pub replicas: Related,
}

list_type!(KafkaReassignmentList, KafkaReassignment);

fn view(ctx: &Ctx, r: &Reassignment) -> KafkaReassignment {
    let path = format!("/topics/{}/partitions/{}", seg(&r.topic), r.partition);
    KafkaReassignment {
        kind: "KafkaReassignment".into(),
        metadata: ctx.meta(
            &format!("{path}/reassignment"),
            &format!("/topic={}/partition={}/reassignment", r.topic, r.partition),
        ),
        cluster_id: ctx.cluster_id(),
        topic_name: r.topic.clone(),
        partition_id: r.partition,
        adding_replicas: r.adding.clone(),
        removing_replicas: r.removing.clone(),
        replicas: related(ctx.url(&format!("{path}/replicas"))),
    }
}

/// The reassignments of `topics` (all when `None`), asked of the
/// controller that `described` names (the metadata the handler read).
async fn list(
    state: &AppState,
    ctx: &Ctx,
    described: &ClusterDescription,
    topics: Option<Vec<(String, Vec<i32>)>>,
) -> V3Result<Vec<Reassignment>> {
    let conn = clusters::connection(&state.store, ctx.cluster_id).await?;
    let mut target = WireTarget::new(&conn.settings, conn.sasl_password.as_ref());
    if let Some(b) = described.controller.and_then(|id| described.broker(id)) {
        target.bootstrap = vec![format!("{}:{}", b.host, b.port)];
    }
    reassignments::list(&target, topics, READ_TIMEOUT)
        .await
        .map_err(|err| {
            let message = format!("listing the partition reassignments: {err}");
            ConfluentError::kafka_failure(err.is_retryable(), message)
        })
}

pub struct ConfluentReassignmentsApi;

#[OpenApi(prefix_path = "/v3/clusters", tag = "ApiTags::Confluent")]
impl ConfluentReassignmentsApi {
    /// List every replica reassignment in progress.
    #[oai(
        path = "/:cluster_id/topics/-/partitions/-/reassignment",
        method = "get"
    )]
    async fn list_all(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        cluster_id: Path<String>,
    ) -> V3Result<Json<KafkaReassignmentList>> {
        auth.0.require(Role::Viewer)?;
        let ctx = Ctx::open(&state, req, &cluster_id.0).await?;
        let described = describe(&ctx).await?;
        let found = list(&state, &ctx, &described, None).await?;
        Ok(Json(KafkaReassignmentList {
            kind: "KafkaReassignmentList".into(),
            metadata: list_meta(ctx.url("/topics/-/partitions/-/reassignment")),
            data: found
                .iter()
                .filter(|r| ctx.sees(&r.topic))
                .map(|r| view(&ctx, r))
                .collect(),
        }))
    }

    /// List a topic's replica reassignments in progress.
    #[oai(
        path = "/:cluster_id/topics/:topic_name/partitions/-/reassignment",
        method = "get"
    )]
    async fn list_topic(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        cluster_id: Path<String>,
        topic_name: Path<String>,
    ) -> V3Result<Json<KafkaReassignmentList>> {
        auth.0.require(Role::Viewer)?;
        let ctx = Ctx::open(&state, req, &cluster_id.0).await?;
        let (described, topic) = find_topic(&ctx, &topic_name.0).await?;
        let partitions = topic.partitions.iter().map(|p| p.id).collect();
        let topics = Some(vec![(topic.name.clone(), partitions)]);
        let found = list(&state, &ctx, &described, topics).await?;
        Ok(Json(KafkaReassignmentList {
            kind: "KafkaReassignmentList".into(),
            metadata: list_meta(ctx.url(&format!(
                "/topics/{}/partitions/-/reassignment",
                seg(&topic.name)
            ))),
            data: found.iter().map(|r| view(&ctx, r)).collect(),
        }))
    }

    /// A partition's replica reassignment in progress; 404 when there is
    /// none.
    #[oai(
        path = "/:cluster_id/topics/:topic_name/partitions/:partition_id/reassignment",
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
    ) -> V3Result<Json<KafkaReassignment>> {
        auth.0.require(Role::Viewer)?;
        let ctx = Ctx::open(&state, req, &cluster_id.0).await?;
        let (described, t) = find_topic(&ctx, &topic_name.0).await?;
        let p = pick_partition(&t, &partition_id.0)?;
        let topics = Some(vec![(t.name.clone(), vec![p.id])]);
        let found = list(&state, &ctx, &described, topics).await?;
        found
            .iter()
            .find(|r| r.topic == t.name && r.partition == p.id)
            .map(|r| Json(view(&ctx, r)))
            .ok_or_else(|| {
                ConfluentError::not_found(
                    404,
                    format!(
                        "Partition {} of topic '{}' has no reassignment in progress.",
                        p.id, t.name
                    ),
                )
            })
    }
}
