//! `POST /v1/topic?method=queryCanWrite`: answered live from the cluster's
//! metadata, never from the task table.

use ferry_entity::Role;
use ferry_service::{
    error::ErrorKind,
    kafka::{INSPECT_TIMEOUT, metadata},
};
use poem_openapi::{Object, OpenApi, param::Query, payload::Json};
use serde_json::Value;

use super::{ERR_GENERAL, TubeResponse, TubeResult, TubeStep, answer, cluster_id, user};
use crate::{auth::BearerAuth, state::AppState};

const NOT_WRITABLE: i32 = 100;
const NO_SUCH_TOPIC: i32 = 101;

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct QueryCanWrite {
    #[oai(nullable)]
    pub cluster_id: Option<Value>,
    #[oai(nullable)]
    pub topic_name: Option<String>,
    #[oai(nullable)]
    pub user: Option<String>,
}

pub struct TubeTopicApi;

#[OpenApi(tag = "crate::api_tags::ApiTags::TubeMq")]
impl TubeTopicApi {
    /// Whether producers can write to a topic now: errCode 0 writable, 100
    /// not writable, 101 no such topic.
    #[oai(path = "/v1/topic", method = "post")]
    async fn topic(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        method: Query<Option<String>>,
        body: Json<QueryCanWrite>,
    ) -> TubeResponse {
        match method.0.as_deref() {
            Some("queryCanWrite") => answer(query_can_write(&state, &auth, body.0).await),
            _ => TubeResponse::no_such_method(),
        }
    }
}

async fn query_can_write(
    state: &AppState,
    auth: &BearerAuth,
    body: QueryCanWrite,
) -> TubeStep<TubeResponse> {
    auth.0.require(Role::Viewer)?;
    let cluster_id = cluster_id(body.cluster_id.as_ref())?;
    user(body.user.as_deref())?;
    let topic = body.topic_name.unwrap_or_default();
    if topic.is_empty() {
        return Ok(TubeResponse::invalid("topicName is required"));
    }
    auth.0.see_cluster(cluster_id)?;
    if !auth.0.reaches_name(cluster_id, &topic) {
        // Outside a project's prefix a topic does not exist for the caller.
        return Ok(TubeResponse::failure(
            NO_SUCH_TOPIC,
            "no such topic in master",
        ));
    }
    let cluster = match state.kafka.get(&state.store, cluster_id).await {
        Ok(c) => c,
        Err(e) if e.kind() == ErrorKind::Unavailable => return Err(e.into()),
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(TubeResponse::no_such_cluster()),
        Err(e) => return Ok(TubeResponse::invalid(e.message())),
    };
    // The full topic list, not a one-topic request: asking a broker about one
    // topic can auto-create it when `auto.create.topics.enable` is on.
    let snapshot = match metadata::snapshot(&cluster, None, INSPECT_TIMEOUT).await {
        Ok(s) => s,
        Err(e) => {
            return Ok(TubeResponse::failure(
                ERR_GENERAL,
                format!("cluster unreachable: {e}"),
            ));
        }
    };
    Ok(match snapshot.topic(&topic) {
        None => TubeResponse::failure(NO_SUCH_TOPIC, "no such topic in master"),
        Some(t) if t.is_writable() => TubeResponse::Ok(Json(TubeResult {
            err_msg: "OK".into(),
            err_code: 0,
            result: true,
            data: Value::String(String::new()),
        })),
        Some(_) => TubeResponse::failure(NOT_WRITABLE, format!("topic {topic} is not writable")),
    })
}
