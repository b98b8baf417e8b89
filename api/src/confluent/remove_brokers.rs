//! Broker removal: `DELETE /v3/clusters/{cluster_id}/brokers/{broker_id}`
//! (routed in `brokers.rs`)
//! records a `broker.remove` task, which moves every replica off the broker
//! as a throttled reassignment (`ferry_worker::jobs::reassign`), and
//! `GET .../remove-broker-tasks[/{broker_id}]` reports each broker's latest
//! one in the seed's shape.
//!
//! ferry empties the broker; it does not stop the broker's process, which
//! is the operator's step once the moves are done. So
//! `partition_reassignment_status` follows the task (PENDING, IN_PROGRESS,
//! SUCCESS, FAILED, CANCELED) and `broker_shutdown_status` stays PENDING,
//! or CANCELED when the moves failed or were cancelled. A failed task's
//! error is in `error_code` 50002 and `error_message`.

use ferry_entity::{Role, TaskStatus};
use ferry_service::{reassignments, tasks::Task};
use poem::Request;
use poem_openapi::{Object, OpenApi, param::Path, payload::Json};
use serde_json::json;

use super::{
    Applied, ConfluentError, Ctx, Related, ResourceMetadata, V3Result, applied,
    brokers::find_broker, list_meta, list_type, parse_index, related, topics::describe,
};
use crate::{api_tags::ApiTags, auth::BearerAuth, edge::requester, state::AppState};

#[derive(Debug, Object)]
pub struct KafkaRemoveBrokerTask {
    /// `KafkaRemoveBrokerTask`.
    pub kind: String,
    pub metadata: ResourceMetadata,
    pub cluster_id: String,
    pub broker_id: i32,
    /// PENDING, IN_PROGRESS, SUCCESS, FAILED or CANCELED.
    pub partition_reassignment_status: String,
    /// PENDING (ferry does not stop brokers) or CANCELED.
    pub broker_shutdown_status: String,
    /// 50002 when the moves failed; null otherwise.
    #[oai(nullable)]
    pub error_code: Option<i32>,
    #[oai(nullable)]
    pub error_message: Option<String>,
    /// ferry's task that moves the replicas.
    pub task: Related,
    pub broker: Related,
}

list_type!(KafkaRemoveBrokerTaskList, KafkaRemoveBrokerTask);

fn view(ctx: &Ctx, broker: i32, task: &Task) -> KafkaRemoveBrokerTask {
    let (moves, shutdown) = match task.status {
        TaskStatus::Pending => ("PENDING", "PENDING"),
        TaskStatus::Running => ("IN_PROGRESS", "PENDING"),
        TaskStatus::Succeeded => ("SUCCESS", "PENDING"),
        TaskStatus::Failed => ("FAILED", "CANCELED"),
        TaskStatus::Cancelled => ("CANCELED", "CANCELED"),
    };
    let failed = task.status == TaskStatus::Failed;
    let path = format!("/remove-broker-tasks/{broker}");
    KafkaRemoveBrokerTask {
        kind: "KafkaRemoveBrokerTask".into(),
        metadata: ctx.meta(&path, &format!("/remove-broker-task={broker}")),
        cluster_id: ctx.cluster_id(),
        broker_id: broker,
        partition_reassignment_status: moves.into(),
        broker_shutdown_status: shutdown.into(),
        error_code: failed.then_some(super::error::KAFKA_ERROR),
        error_message: if failed {
            task.last_error.clone()
        } else {
            None
        },
        task: related(format!("{}/api/v1/tasks/{}", ctx.base, task.id)),
        broker: related(ctx.url(&format!("/brokers/{broker}"))),
    }
}

/// `DELETE .../brokers/{broker_id}` (routed in `brokers.rs`, beside the
/// broker's GET, so that the document keeps both on the one path): records
/// a `broker.remove` task; 204 once done, 202 with the task while the
/// moves last.
pub async fn remove(
    state: &AppState,
    auth: &BearerAuth,
    req: &Request,
    cluster_id: &str,
    broker_id: &str,
    throttle_bytes_per_second: Option<u64>,
) -> V3Result<Applied> {
    auth.0.require_global(Role::Admin)?;
    let ctx = Ctx::open(state, req, cluster_id).await?;
    super::audit(
        req,
        json!({ "clusterId": ctx.cluster_id, "brokerId": broker_id, "throttleBytesPerSecond": throttle_bytes_per_second }),
    );
    let described = describe(&ctx).await?;
    let broker = find_broker(&described, broker_id)?;
    let task = reassignments::submit_broker_removal(
        &state.store,
        ctx.cluster_id,
        broker.id,
        throttle_bytes_per_second,
        &requester(&auth.0, req),
    )
    .await?;
    applied(state, &ctx.base, task).await
}

pub struct ConfluentRemoveBrokersApi;

#[OpenApi(prefix_path = "/v3/clusters", tag = "ApiTags::Confluent")]
impl ConfluentRemoveBrokersApi {
    /// Each broker's latest removal.
    #[oai(path = "/:cluster_id/remove-broker-tasks", method = "get")]
    async fn list(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        cluster_id: Path<String>,
    ) -> V3Result<Json<KafkaRemoveBrokerTaskList>> {
        auth.0.require(Role::Viewer)?;
        let ctx = Ctx::open(&state, req, &cluster_id.0).await?;
        let removals = reassignments::broker_removals(&state.store, ctx.cluster_id).await?;
        Ok(Json(KafkaRemoveBrokerTaskList {
            kind: "KafkaRemoveBrokerTaskList".into(),
            metadata: list_meta(ctx.url("/remove-broker-tasks")),
            data: removals.iter().map(|(b, t)| view(&ctx, *b, t)).collect(),
        }))
    }

    /// One broker's latest removal.
    #[oai(path = "/:cluster_id/remove-broker-tasks/:broker_id", method = "get")]
    async fn get(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        cluster_id: Path<String>,
        broker_id: Path<String>,
    ) -> V3Result<Json<KafkaRemoveBrokerTask>> {
        auth.0.require(Role::Viewer)?;
        let ctx = Ctx::open(&state, req, &cluster_id.0).await?;
        let not_found = || {
            ConfluentError::not_found(
                404,
                format!("No remove-broker task for broker {}.", broker_id.0),
            )
        };
        let id = parse_index(&broker_id.0).ok_or_else(not_found)?;
        let removals = reassignments::broker_removals(&state.store, ctx.cluster_id).await?;
        let (b, task) = removals
            .iter()
            .find(|(b, _)| *b == id)
            .ok_or_else(not_found)?;
        Ok(Json(view(&ctx, *b, task)))
    }
}
