//! `POST /v1/task?method=addTopicTask`: one `topic.create` task per topic.

use std::collections::BTreeMap;

use ferry_entity::Role;
use ferry_service::topics::{self, TopicSpec};
use poem::Request;
use poem_openapi::{Object, OpenApi, param::Query, payload::Json};
use serde_json::{Value, json};

use super::{TubeResponse, TubeStep, answer, cluster_id, user};
use crate::{auth::BearerAuth, edge::requester, middleware::audit::AuditNote, state::AppState};

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct AddTopicTask {
    pub topic_name: String,
    /// Defaults to one partition per broker.
    #[oai(nullable)]
    pub partition_count: Option<i32>,
    /// Defaults to min(3, brokers).
    #[oai(nullable)]
    pub replication_factor: Option<i32>,
    /// Kafka topic configs, e.g. `{"cleanup.policy": "compact"}`.
    #[oai(nullable)]
    pub configs: Option<BTreeMap<String, String>>,
    /// Kafka broker rack to place replicas in.
    #[oai(nullable)]
    pub region: Option<String>,
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct AddTopicTaskRequest {
    /// A number or a string.
    #[oai(nullable)]
    pub cluster_id: Option<Value>,
    #[oai(nullable)]
    pub add_topic_tasks: Option<Vec<AddTopicTask>>,
    #[oai(nullable)]
    pub user: Option<String>,
    /// Accepted for compatibility (TubeMQ sends `op_query`); not used.
    #[oai(nullable, rename = "type")]
    pub request_type: Option<String>,
}

pub struct TubeTaskApi;

#[OpenApi(tag = "crate::api_tags::ApiTags::TubeMq")]
impl TubeTaskApi {
    /// Create topics on every broker of a cluster, one task per topic.
    #[oai(path = "/v1/task", method = "post")]
    async fn task(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        method: Query<Option<String>>,
        body: Json<AddTopicTaskRequest>,
    ) -> TubeResponse {
        match method.0.as_deref() {
            Some("addTopicTask") => answer(add_topic_task(&state, &auth, req, body.0).await),
            _ => TubeResponse::no_such_method(),
        }
    }
}

async fn add_topic_task(
    state: &AppState,
    auth: &BearerAuth,
    req: &Request,
    body: AddTopicTaskRequest,
) -> TubeStep<TubeResponse> {
    auth.0.require(Role::Client)?;
    let cluster = cluster_id(body.cluster_id.as_ref())?;
    let user = user(body.user.as_deref())?;
    let requested = body.add_topic_tasks.unwrap_or_default();
    if let Some(note) = req.extensions().get::<AuditNote>() {
        let names: Vec<&str> = requested.iter().map(|t| t.topic_name.as_str()).collect();
        note.set(json!({ "user": user, "clusterId": cluster, "topics": names }));
    }
    // A project creates topics only on clusters granted to it and, under a
    // prefix, only names that start with it: the whole request is refused
    // before any task is written.
    for topic in &requested {
        auth.0.may_name(cluster, "topic", &topic.topic_name)?;
    }
    let specs = requested
        .into_iter()
        .map(|t| TopicSpec {
            topic_name: t.topic_name,
            partition_count: t.partition_count,
            replication_factor: t.replication_factor,
            configs: t.configs.unwrap_or_default(),
            region: t.region,
            user: Some(user.clone()),
        })
        .collect();
    let mut who = requester(&auth.0, req);
    // Tasks keep who made them in 128 characters: a long token name gives
    // way to the user TubeMQ callers name.
    let suffix = format!(" (user {user})");
    let name: String = auth
        .0
        .name
        .chars()
        .take(128 - suffix.chars().count())
        .collect();
    who.created_by = format!("{name}{suffix}");
    let tasks = topics::submit(&state.store, &state.kafka, cluster, specs, &who).await?;
    Ok(TubeResponse::success(json!(
        tasks.into_iter().map(|t| t.id).collect::<Vec<_>>()
    )))
}
