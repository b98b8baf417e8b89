//! `/api/v1/changefeeds/...`: create, list, detail, pause, resume, update,
//! delete. Every operation is a task; the call waits up to `task_wait_ms` for
//! it and answers with its result, or answers anyway with `unsteady` true
//! while it is still running. A project's tokens see and operate only the
//! project's changefeeds; what they may point one at is `changefeeds::Reach`.

use ferry_entity::{
    ClusterId, Role, TaskKind, TaskStatus,
    changefeed::Model,
    payload::{ChangefeedOperation, Payload},
};
use ferry_service::{
    changefeeds::{self, ChangefeedInput, Reach},
    error::ServiceError,
    tasks::Task,
};
use poem::Request;
use poem_openapi::{OpenApi, param::Path, param::Query, payload::Json};
use serde_json::Value;

use super::{TiemError, task_failure, views::*};
use crate::{
    auth::BearerAuth,
    edge::{paging, requester, wait_task},
    state::AppState,
};

pub struct ChangefeedsApi;

type TiemResult<T> = Result<Json<T>, TiemError>;

/// Waits for an operation's task; a failed one is answered as an error.
async fn finish(state: &AppState, task: Task) -> Result<(), TiemError> {
    let waited = wait_task(state, task).await?;
    if waited.task().status == TaskStatus::Failed {
        return Err(task_failure(waited.task()));
    }
    Ok(())
}

/// Who is calling and the hosts a project may name as a downstream.
fn reach<'a>(state: &'a AppState, auth: &'a BearerAuth) -> Reach<'a> {
    Reach {
        identity: &auth.0,
        downstream_hosts: &state.settings.changefeed.downstream_hosts,
    }
}

/// The changefeed, if the caller sees it (a project's own, or any for a
/// global token); otherwise it does not exist.
async fn visible(state: &AppState, auth: &BearerAuth, id: &str) -> Result<Model, TiemError> {
    let model = changefeeds::get(&state.store.db, id).await?;
    if !auth.0.owns(model.project_id.as_deref()) {
        return Err(ServiceError::not_found(format!("changefeed {id} not found")).into());
    }
    Ok(model)
}

fn cluster_text(value: Option<Value>) -> Option<String> {
    match value {
        Some(Value::String(s)) => Some(s),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    }
}

#[OpenApi(tag = "crate::api_tags::ApiTags::Changefeeds")]
impl ChangefeedsApi {
    /// Create a changefeed: prechecks run in its task; the call answers with
    /// the id, or with the precheck's message.
    #[oai(path = "/api/v1/changefeeds/", method = "post")]
    async fn create(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        body: Json<CreateChangeFeedTaskReq>,
    ) -> TiemResult<CreateResult> {
        auth.0.require(Role::Client)?;
        let body = body.0;
        let input = ChangefeedInput {
            name: body.name,
            cluster_id: cluster_text(body.cluster_id),
            downstream_type: body.downstream_type,
            downstream: body.downstream,
            rules: body.rules,
            start_ts: body.start_ts,
            start_paused: body.start_paused.unwrap_or(false),
            force: body.force.unwrap_or(false),
        };
        let (model, task) = changefeeds::create(
            &state.store,
            input,
            &requester(&auth.0, req),
            reach(&state, &auth),
        )
        .await?;
        finish(&state, task).await?;
        Ok(Json(CreateResult {
            code: 0,
            data: CreateChangeFeedTaskResp { id: model.id },
            message: String::new(),
        }))
    }

    /// A cluster's changefeeds, newest first (`page` 0 means 1).
    #[oai(path = "/api/v1/changefeeds/", method = "get")]
    async fn list(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        #[oai(name = "clusterId", validator(pattern = r"^([1-9][0-9]{0,17})?$"))] cluster_id: Query<
            Option<String>,
        >,
        #[oai(validator(minimum(value = "0"), maximum(value = "1000000000")))] page: Query<
            Option<u64>,
        >,
        #[oai(
            name = "pageSize",
            validator(minimum(value = "1"), maximum(value = "500"))
        )]
        page_size: Query<Option<u64>>,
    ) -> TiemResult<ListResult> {
        auth.0.require(Role::Viewer)?;
        let (page, page_size) = paging(
            page.0,
            page_size.0.unwrap_or(10),
            state.settings.api.max_page_size,
        )
        .map_err(TiemError::invalid)?;
        let cluster = match cluster_id.0.as_deref() {
            None | Some("") => None,
            Some(raw) => Some(ClusterId::parse(raw).ok_or_else(|| {
                TiemError::invalid(format!("clusterId `{raw}` is not a cluster id"))
            })?),
        };
        let (rows, total) = changefeeds::list(
            &state.store.db,
            cluster,
            auth.0.project_id(),
            page,
            page_size,
        )
        .await?;
        let ids: Vec<String> = rows.iter().map(|m| m.id.clone()).collect();
        let unsteady = changefeeds::unsteady(&state.store.db, &ids).await?;
        Ok(Json(ListResult {
            code: 0,
            data: rows
                .iter()
                .map(|m| ChangeFeedTaskResp::new(m, unsteady.contains(&m.id)))
                .collect(),
            message: String::new(),
            page: Page {
                page,
                page_size,
                total,
            },
        }))
    }

    /// One changefeed with its checkpoint, fetch and upstream timestamps.
    #[oai(path = "/api/v1/changefeeds/:id/", method = "get")]
    async fn detail(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
    ) -> TiemResult<DetailResult> {
        auth.0.require(Role::Viewer)?;
        let model = visible(&state, &auth, &id.0).await?;
        let unsteady = !changefeeds::unsteady(&state.store.db, std::slice::from_ref(&model.id))
            .await?
            .is_empty();
        Ok(Json(DetailResult {
            code: 0,
            data: ChangeFeedTaskResp::new(&model, unsteady),
            message: String::new(),
        }))
    }

    /// Pause: the downstream stops changing. Answers the status before.
    #[oai(path = "/api/v1/changefeeds/:id/pause", method = "post")]
    async fn pause(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        id: Path<String>,
    ) -> TiemResult<StatusResult> {
        self.operate(
            &state,
            &auth,
            req,
            &id.0,
            TaskKind::ChangefeedPause,
            &ChangefeedOperation::default(),
        )
        .await
    }

    /// Resume from Stopped, Error or Failed. Answers the status before.
    #[oai(path = "/api/v1/changefeeds/:id/resume", method = "post")]
    async fn resume(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        id: Path<String>,
    ) -> TiemResult<StatusResult> {
        self.operate(
            &state,
            &auth,
            req,
            &id.0,
            TaskKind::ChangefeedResume,
            &ChangefeedOperation::default(),
        )
        .await
    }

    /// Change name, rules or downstream. A Normal changefeed is paused,
    /// changed and resumed. Answers the status before.
    #[oai(path = "/api/v1/changefeeds/:id/update", method = "post")]
    async fn update(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        id: Path<String>,
        body: Json<UpdateChangeFeedTaskReq>,
    ) -> TiemResult<StatusResult> {
        auth.0.require(Role::Client)?;
        let current = visible(&state, &auth, &id.0).await?;
        let body = body.0;
        let input = ChangefeedInput {
            name: body.name,
            downstream_type: body.downstream_type,
            downstream: body.downstream,
            rules: body.rules,
            ..Default::default()
        };
        let patch =
            changefeeds::validate_patch(&state.store, &current, input, reach(&state, &auth))
                .await?;
        self.operate(
            &state,
            &auth,
            req,
            &id.0,
            TaskKind::ChangefeedUpdate,
            &patch,
        )
        .await
    }

    /// Stop and remove a changefeed. Answers its id and the status before.
    #[oai(path = "/api/v1/changefeeds/:id", method = "delete")]
    async fn delete(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        id: Path<String>,
    ) -> TiemResult<DeleteResult> {
        let Json(result) = self
            .operate(
                &state,
                &auth,
                req,
                &id.0,
                TaskKind::ChangefeedDelete,
                &ChangefeedOperation::default(),
            )
            .await?;
        Ok(Json(DeleteResult {
            code: 0,
            data: DeleteChangeFeedTaskResp {
                id: id.0,
                status: result.data.status,
            },
            message: String::new(),
        }))
    }
}

impl ChangefeedsApi {
    #[allow(clippy::too_many_arguments)]
    async fn operate<P: Payload>(
        &self,
        state: &AppState,
        auth: &BearerAuth,
        req: &Request,
        id: &str,
        kind: TaskKind,
        payload: &P,
    ) -> TiemResult<StatusResult> {
        auth.0.require(Role::Client)?;
        visible(state, auth, id).await?;
        let (before, task) =
            changefeeds::operate(&state.store, id, kind, payload, &requester(&auth.0, req)).await?;
        finish(state, task).await?;
        Ok(Json(StatusResult {
            code: 0,
            data: StatusResp {
                status: before.state.as_str().to_owned(),
            },
            message: String::new(),
        }))
    }
}
