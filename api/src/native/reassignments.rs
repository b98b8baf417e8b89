//! `POST /api/v1/clusters/{id}/reassignments`: move partitions' replicas
//! (a `partition.reassign` task: AlterPartitionReassignments, throttled,
//! its progress in the task's result, cancelled with the task). Confluent's
//! v3 only reads reassignments, and Kafka's own tool is a script against
//! one cluster: this is the audited, retried way.

use ferry_entity::{ClusterId, Role, payload::ReplicaTarget};
use ferry_service::reassignments;
use poem::Request;
use poem_openapi::{ApiResponse, Object, OpenApi, param::Path, payload::Json};

use super::{NativeError, NativeResult, tasks::TaskView};
use crate::{api_tags::ApiTags, auth::BearerAuth, edge::requester, state::AppState};

#[derive(Debug, Object)]
pub struct PartitionMove {
    #[oai(validator(min_length = 1, max_length = 249))]
    pub topic: String,
    #[oai(validator(minimum(value = "0")))]
    pub partition: i32,
    /// The new replicas (distinct broker ids), the preferred leader first.
    #[oai(validator(
        min_items = 1,
        max_items = 64,
        unique_items = true,
        minimum(value = "0")
    ))]
    pub replicas: Vec<i32>,
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct ReassignmentRequest {
    #[oai(validator(min_items = 1, max_items = 10000))]
    pub partitions: Vec<PartitionMove>,
    /// The most bytes per second each involved broker spends copying
    /// replicas while the moves last; null: unthrottled. At most 2^53 - 1,
    /// the largest integer every JSON client reads exactly.
    #[oai(
        nullable,
        validator(minimum(value = "1"), maximum(value = "9007199254740991"))
    )]
    pub throttle_bytes_per_second: Option<u64>,
}

#[derive(ApiResponse)]
pub enum ReassignmentAccepted {
    /// Accepted: the `partition.reassign` task, whose result shows the
    /// progress while it runs.
    #[oai(status = 202)]
    Accepted(Json<TaskView>),
}

pub struct ReassignmentsApi;

#[OpenApi(prefix_path = "/api/v1/clusters", tag = "ApiTags::Clusters")]
impl ReassignmentsApi {
    /// Move partitions to new replicas.
    #[oai(path = "/:id/reassignments", method = "post")]
    async fn reassign(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        id: Path<String>,
        body: Json<ReassignmentRequest>,
    ) -> NativeResult<ReassignmentAccepted> {
        auth.0.require_global(Role::Admin)?;
        let cluster =
            ClusterId::parse(&id.0).ok_or_else(|| NativeError::not_found("no such cluster"))?;
        auth.0.see_cluster(cluster)?;
        // A registered Kafka cluster, or 404.
        state.kafka.get(&state.store, cluster).await?;
        let request = body.0;
        let targets = request
            .partitions
            .into_iter()
            .map(|m| ReplicaTarget {
                topic: m.topic,
                partition: m.partition,
                replicas: m.replicas,
            })
            .collect();
        let task = reassignments::submit_reassignment(
            &state.store,
            cluster,
            targets,
            request.throttle_bytes_per_second,
            &requester(&auth.0, req),
        )
        .await?;
        Ok(ReassignmentAccepted::Accepted(Json(task.into())))
    }
}
