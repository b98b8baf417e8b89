//! `GET /api/v1/audit`: the audit log, newest first: all of it for global
//! admins, a project's own rows for that project's ADMINs.

use chrono::{DateTime, Utc};
use ferry_entity::{Role, audit_log};
use poem_openapi::{Object, OpenApi, param::Query, payload::Json};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};
use serde_json::Value;

use super::{NativeResult, paging};
use crate::{api_tags::ApiTags, auth::BearerAuth, state::AppState};

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct AuditEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    #[oai(nullable)]
    pub role: Option<String>,
    /// The token that made the call, and its project (none for a global token).
    #[oai(nullable)]
    pub token_id: Option<String>,
    #[oai(nullable)]
    pub project_id: Option<String>,
    /// The client's address as ferry saw it.
    #[oai(nullable)]
    pub client_addr: Option<String>,
    pub method: String,
    pub path: String,
    pub request_id: String,
    pub status: i32,
    pub outcome: String,
    #[oai(nullable)]
    pub detail: Option<Value>,
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct AuditPage {
    pub data: Vec<AuditEntry>,
    pub page: u64,
    pub page_size: u64,
    pub total: u64,
}

pub struct AuditApi;

#[OpenApi(prefix_path = "/api/v1/audit", tag = "ApiTags::Audit")]
impl AuditApi {
    /// Mutating calls, newest first (admins; a project's ADMINs see their
    /// project's calls only). Filters: `actor` (token name), `projectId`,
    /// `requestId` (the call that recorded a task: its `requestId`).
    #[oai(path = "/", method = "get")]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        #[oai(validator(minimum(value = "0"), maximum(value = "1000000000")))] page: Query<
            Option<u64>,
        >,
        #[oai(
            name = "pageSize",
            validator(minimum(value = "1"), maximum(value = "500"))
        )]
        page_size: Query<Option<u64>>,
        actor: Query<Option<String>>,
        #[oai(name = "projectId")] project_id: Query<Option<String>>,
        #[oai(name = "requestId")] request_id: Query<Option<String>>,
    ) -> NativeResult<Json<AuditPage>> {
        auth.0.require(Role::Admin)?;
        let (page, page_size) = paging(page.0, page_size.0, state.settings.api.max_page_size)?;
        let mut query = audit_log::Entity::find();
        if let Some(own) = auth.0.project_id() {
            query = query.filter(audit_log::Column::ProjectId.eq(own));
        }
        if let Some(project) = project_id.0.filter(|p| !p.is_empty()) {
            query = query.filter(audit_log::Column::ProjectId.eq(project));
        }
        if let Some(actor) = actor.0.filter(|a| !a.is_empty()) {
            query = query.filter(audit_log::Column::Actor.eq(actor));
        }
        if let Some(request) = request_id.0.filter(|r| !r.is_empty()) {
            query = query.filter(audit_log::Column::RequestId.eq(request));
        }
        let total = query.clone().count(&state.store.db).await?;
        let rows = query
            .order_by_desc(audit_log::Column::Id)
            .offset((page - 1).saturating_mul(page_size))
            .limit(page_size)
            .all(&state.store.db)
            .await?;
        Ok(Json(AuditPage {
            data: rows
                .into_iter()
                .map(|r| AuditEntry {
                    id: r.id,
                    at: r.at,
                    actor: r.actor,
                    role: r.role.map(|role| role.as_str().to_owned()),
                    token_id: r.token_id,
                    project_id: r.project_id,
                    client_addr: r.client_addr,
                    method: r.method,
                    path: r.path,
                    request_id: r.request_id,
                    status: r.status,
                    outcome: r.outcome.as_str().to_owned(),
                    detail: r.detail,
                })
                .collect(),
            page,
            page_size,
            total,
        }))
    }
}
