//! `/api/v1/changesets`: desired-state documents planned against a Kafka
//! cluster, applied as tasks (optionally after a second token's approval),
//! resumed, and watched for drift (docs/CHANGESETS.md). The document comes
//! as JSON or YAML; both parse into the same objects.

use std::collections::BTreeMap;

use ferry_entity::{ClusterId, Role, changeset::ChangesetStatus};
use ferry_service::{
    acls::AclFields,
    changesets::{self, ChangefeedFields, ChangesetFilter, DocumentInput},
};
use poem::Request;
use poem_openapi::{
    ApiRequest, ApiResponse, Enum, Object, OpenApi,
    param::{Path, Query},
    payload::{Json, Yaml},
};
use serde_json::{Value, json};

mod views;

use self::views::{ChangesetPage, ChangesetView, view, views};
use super::{NativeError, NativeResult, paging, tasks::TaskView};
use crate::{
    api_tags::ApiTags, auth::BearerAuth, edge::requester, middleware::audit::AuditNote,
    state::AppState,
};

/// A desired-state document.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct ChangesetDocument {
    /// The registered Kafka cluster's id.
    #[oai(validator(minimum(value = "1")))]
    pub cluster: i64,
    /// What the document manages: its deletes reach only what an earlier
    /// applied changeset of this name named.
    #[oai(validator(min_length = 1, max_length = 255, pattern = r"^[A-Za-z0-9._-]+$"))]
    pub name: String,
    #[oai(nullable)]
    pub allow_delete: Option<bool>,
    /// A second token must approve the apply before any task runs.
    #[oai(nullable)]
    pub require_approval: Option<bool>,
    /// Check the applied state for drift every `worker.drift_interval_seconds`.
    #[oai(nullable)]
    pub watch: Option<bool>,
    /// Put drifted resources back through tasks (needs `watch`).
    #[oai(nullable)]
    pub revert: Option<bool>,
    #[oai(nullable, validator(max_items = 1000))]
    pub topics: Option<Vec<TopicDocument>>,
    #[oai(nullable, validator(max_items = 1000))]
    pub acls: Option<Vec<AclDocument>>,
    #[oai(nullable, validator(max_items = 100))]
    pub changefeeds: Option<Vec<ChangefeedDocument>>,
}

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct TopicDocument {
    #[oai(validator(
        min_length = 1,
        max_length = 249,
        pattern = r"^[A-Za-z0-9._-]*[A-Za-z0-9_-][A-Za-z0-9._-]*$"
    ))]
    pub name: String,
    /// The broker's default when the topic is created; any count when absent.
    #[oai(nullable, validator(minimum(value = "1"), maximum(value = "10000")))]
    pub partitions: Option<i32>,
    #[oai(nullable, validator(minimum(value = "1"), maximum(value = "32")))]
    pub replication_factor: Option<i32>,
    /// The topic's complete set of config overrides: each value a string,
    /// or a number or boolean (as YAML documents write them), read as its
    /// text.
    #[oai(nullable)]
    pub configs: Option<BTreeMap<String, Value>>,
}

/// One ACL, with Kafka's upper-case names.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct AclDocument {
    pub resource_type: String,
    pub resource_name: String,
    pub pattern_type: String,
    pub principal: String,
    /// An IP address, or `*` (every host) when absent.
    #[oai(nullable)]
    pub host: Option<String>,
    pub operation: String,
    pub permission: String,
}

/// A changefeed as TiEM's create body gives it.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct ChangefeedDocument {
    #[oai(validator(min_length = 1, max_length = 128))]
    pub name: String,
    /// The upstream cluster's id.
    pub cluster_id: String,
    pub downstream_type: String,
    pub downstream: BTreeMap<String, Value>,
    #[oai(nullable)]
    pub rules: Option<Vec<String>>,
    #[oai(nullable)]
    pub start_ts: Option<String>,
}

#[derive(Debug, ApiRequest)]
pub enum DocumentBody {
    Json(Json<ChangesetDocument>),
    Yaml(Yaml<ChangesetDocument>),
}

#[derive(Debug, Clone, Copy, Enum, PartialEq, Eq)]
#[oai(rename_all = "lowercase")]
pub enum Mode {
    /// Plan only.
    Plan,
    /// Plan, then apply at once.
    Apply,
}

/// `{watch, revert}` of an applied changeset.
#[derive(Debug, Object)]
pub struct WatchRequest {
    pub watch: bool,
    #[oai(nullable)]
    pub revert: Option<bool>,
}

#[derive(ApiResponse)]
pub enum Planned {
    /// Planned (status `planned` or `refused`); nothing applied.
    #[oai(status = 201)]
    Created(Json<ChangesetView>),
    /// Planned and applied (status `applying`, or `awaitingApproval`).
    #[oai(status = 202)]
    Accepted(Json<ChangesetView>),
}

#[derive(ApiResponse)]
pub enum Accepted {
    /// The changeset, moved on.
    #[oai(status = 202)]
    Accepted(Json<ChangesetView>),
}

#[derive(ApiResponse)]
pub enum DriftCheck {
    /// The `changeset.drift` task.
    #[oai(status = 202)]
    Accepted(Json<TaskView>),
}

/// A config value as Kafka takes it: text.
fn config_text(topic: usize, name: &str, value: Value) -> NativeResult<String> {
    match value {
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err(NativeError::bad_request(format!(
            "topics[{topic}].configs.{name} must be a string, a number or a boolean"
        ))),
    }
}

fn input(doc: ChangesetDocument) -> NativeResult<DocumentInput> {
    let mut topics = Vec::new();
    for (i, t) in doc.topics.unwrap_or_default().into_iter().enumerate() {
        let mut configs = BTreeMap::new();
        for (name, value) in t.configs.unwrap_or_default() {
            let text = config_text(i, &name, value)?;
            configs.insert(name, text);
        }
        topics.push(ferry_entity::changeset::DesiredTopic {
            name: t.name,
            partitions: t.partitions,
            replication_factor: t.replication_factor,
            configs,
        });
    }
    Ok(DocumentInput {
        cluster: ClusterId(doc.cluster),
        name: doc.name,
        allow_delete: doc.allow_delete.unwrap_or_default(),
        require_approval: doc.require_approval.unwrap_or_default(),
        watch: doc.watch.unwrap_or_default(),
        revert: doc.revert.unwrap_or_default(),
        topics,
        acls: doc
            .acls
            .unwrap_or_default()
            .into_iter()
            .map(|a| AclFields {
                resource_type: a.resource_type,
                resource_name: a.resource_name,
                pattern_type: a.pattern_type,
                principal: a.principal,
                host: a.host.unwrap_or_else(|| "*".to_owned()),
                operation: a.operation,
                permission: a.permission,
            })
            .collect(),
        changefeeds: doc
            .changefeeds
            .unwrap_or_default()
            .into_iter()
            .map(|f| ChangefeedFields {
                name: f.name,
                cluster_id: f.cluster_id,
                downstream_type: f.downstream_type,
                downstream: Value::Object(f.downstream.into_iter().collect()),
                rules: f.rules.unwrap_or_default(),
                start_ts: f.start_ts,
            })
            .collect(),
    })
}

fn note(req: &Request, action: &str, id: &str) {
    if let Some(note) = req.extensions().get::<AuditNote>() {
        note.set(json!({"changeset": id, "action": action}));
    }
}

pub struct ChangesetsApi;

#[OpenApi(prefix_path = "/api/v1/changesets", tag = "ApiTags::Changesets")]
impl ChangesetsApi {
    /// Plan a desired-state document (and, with `mode=apply`, apply it).
    #[oai(path = "/", method = "post")]
    async fn plan(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        mode: Query<Option<Mode>>,
        body: DocumentBody,
    ) -> NativeResult<Planned> {
        auth.0.require(Role::Client)?;
        let doc = match body {
            DocumentBody::Json(Json(d)) | DocumentBody::Yaml(Yaml(d)) => d,
        };
        let model = changesets::plan(&state.store, &state.kafka, &auth.0, input(doc)?).await?;
        note(req, "plan", &model.id);
        if mode.0 != Some(Mode::Apply) {
            return Ok(Planned::Created(Json(view(&state, model).await?)));
        }
        if model.status == ChangesetStatus::Refused {
            return Err(NativeError::conflict(format!(
                "changeset {} is refused: {}",
                model.id,
                changesets::refusals(&model.plan)
            )));
        }
        let who = requester(&auth.0, req);
        let model = changesets::apply(&state.store, &state.kafka, &auth.0, &who, &model.id).await?;
        Ok(Planned::Accepted(Json(view(&state, model).await?)))
    }

    /// List changesets, newest first.
    #[oai(path = "/", method = "get")]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        #[oai(name = "clusterId", validator(pattern = r"^([1-9][0-9]{0,17})?$"))] cluster_id: Query<
            Option<String>,
        >,
        name: Query<Option<String>>,
        #[oai(validator(
            pattern = r"^(planned|refused|awaitingApproval|applying|applied|failed|stale|superseded)?$"
        ))]
        status: Query<Option<String>>,
        #[oai(validator(minimum(value = "0"), maximum(value = "1000000000")))] page: Query<
            Option<u64>,
        >,
        #[oai(
            name = "pageSize",
            validator(minimum(value = "1"), maximum(value = "500"))
        )]
        page_size: Query<Option<u64>>,
    ) -> NativeResult<Json<ChangesetPage>> {
        auth.0.require(Role::Viewer)?;
        let (page, page_size) = paging(page.0, page_size.0, state.settings.api.max_page_size)?;
        let cluster = match cluster_id.0.as_deref().filter(|c| !c.is_empty()) {
            Some(raw) => Some(
                ClusterId::parse(raw)
                    .ok_or_else(|| NativeError::bad_request("clusterId must be a cluster id"))?,
            ),
            None => None,
        };
        let status = match status.0.as_deref().filter(|s| !s.is_empty()) {
            Some(raw) => Some(ChangesetStatus::parse(raw).ok_or_else(|| {
                NativeError::bad_request(format!(
                    "status `{raw}` is none of planned, refused, awaitingApproval, applying, applied, failed, stale, superseded"
                ))
            })?),
            None => None,
        };
        let filter = ChangesetFilter {
            cluster,
            name: name.0,
            status,
            project: auth.0.project_id().map(str::to_owned),
        };
        let (rows, total) = changesets::list(&state.store.db, &filter, page, page_size).await?;
        Ok(Json(ChangesetPage {
            data: views(&state, rows).await?,
            total,
            page,
            page_size,
        }))
    }

    /// One changeset.
    #[oai(path = "/:id", method = "get")]
    async fn get(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
    ) -> NativeResult<Json<ChangesetView>> {
        auth.0.require(Role::Viewer)?;
        let model = changesets::get(&state.store.db, &id.0).await?;
        if !auth.0.owns(model.project_id.as_deref()) {
            return Err(NativeError::not_found(format!(
                "changeset {} not found",
                id.0
            )));
        }
        Ok(Json(view(&state, model).await?))
    }

    /// Apply a planned changeset; refused when the cluster changed since.
    #[oai(path = "/:id/apply", method = "post")]
    async fn apply(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        id: Path<String>,
    ) -> NativeResult<Accepted> {
        auth.0.require(Role::Client)?;
        note(req, "apply", &id.0);
        let who = requester(&auth.0, req);
        let model = changesets::apply(&state.store, &state.kafka, &auth.0, &who, &id.0).await?;
        Ok(Accepted::Accepted(Json(view(&state, model).await?)))
    }

    /// Approve a changeset awaiting approval (another token than the one
    /// that planned or applied it).
    #[oai(path = "/:id/approve", method = "post")]
    async fn approve(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        id: Path<String>,
    ) -> NativeResult<Accepted> {
        auth.0.require(Role::Client)?;
        note(req, "approve", &id.0);
        let who = requester(&auth.0, req);
        let model = changesets::approve(&state.store, &auth.0, &who, &id.0).await?;
        Ok(Accepted::Accepted(Json(view(&state, model).await?)))
    }

    /// Resume a failed changeset from where it stopped.
    #[oai(path = "/:id/resume", method = "post")]
    async fn resume(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        id: Path<String>,
    ) -> NativeResult<Accepted> {
        auth.0.require(Role::Client)?;
        note(req, "resume", &id.0);
        let who = requester(&auth.0, req);
        let model = changesets::resume(&state.store, &auth.0, &who, &id.0).await?;
        Ok(Accepted::Accepted(Json(view(&state, model).await?)))
    }

    /// Check an applied changeset for drift now.
    #[oai(path = "/:id/drift", method = "post")]
    async fn drift(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        id: Path<String>,
    ) -> NativeResult<DriftCheck> {
        auth.0.require(Role::Client)?;
        note(req, "drift", &id.0);
        let who = requester(&auth.0, req);
        let task = changesets::check_drift(&state.store, &auth.0, &who, &id.0).await?;
        Ok(DriftCheck::Accepted(Json(task.into())))
    }

    /// Watch an applied changeset for drift, and revert it, or stop.
    #[oai(path = "/:id", method = "patch")]
    async fn watch(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        id: Path<String>,
        body: Json<WatchRequest>,
    ) -> NativeResult<Json<ChangesetView>> {
        auth.0.require(Role::Client)?;
        note(req, "watch", &id.0);
        let model = changesets::set_watch(
            &state.store,
            &auth.0,
            &id.0,
            body.0.watch,
            body.0.revert.unwrap_or_default(),
        )
        .await?;
        Ok(Json(view(&state, model).await?))
    }
}
