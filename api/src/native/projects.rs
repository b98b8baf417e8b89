//! `/api/v1/projects`: projects (EasyQueue's `appKey`), their tokens and
//! their grants. Global admins manage projects and grants; a project's
//! ADMINs mint, list and revoke its tokens; any token of the project reads
//! it. A project that a token does not belong to does not exist for it.

use chrono::{DateTime, Utc};
use ferry_entity::{ClusterId, Role};
use ferry_service::{
    access::Identity,
    projects::{self, Grant, GrantInput, ProjectInput},
    tokens,
};
use poem_openapi::{ApiResponse, Object, OpenApi, param::Path, payload::Json};

use super::{
    NativeError, NativeResult,
    tokens::{MintedToken, RateLimit, TokenList, TokenView},
};
use crate::{api_tags::ApiTags, auth::BearerAuth, state::AppState};

/// A project to create.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct NewProject {
    /// URL-safe: 1-64 letters, digits, `-` or `_`.
    #[oai(validator(pattern = r"^[A-Za-z0-9_-]{1,64}$"))]
    pub id: String,
    /// 1-128 characters, not only spaces.
    #[oai(validator(max_length = 128, pattern = r"[^\s\x85]"))]
    pub name: String,
    /// Up to 1,024 characters.
    #[oai(nullable, validator(max_length = 1024))]
    pub description: Option<String>,
}

/// The fields of a project to change; absent fields keep their value.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct ProjectRequest {
    /// The project's id, if sent, must be the path's: it cannot change.
    #[oai(nullable, validator(pattern = r"^[A-Za-z0-9_-]{1,64}$"))]
    pub id: Option<String>,
    /// 1-128 characters, not only spaces.
    #[oai(nullable, validator(max_length = 128, pattern = r"[^\s\x85]"))]
    pub name: Option<String>,
    /// Up to 1,024 characters.
    #[oai(nullable, validator(max_length = 1024))]
    pub description: Option<String>,
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct Project {
    pub id: String,
    pub name: String,
    pub description: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<projects::Project> for Project {
    fn from(p: projects::Project) -> Self {
        Self {
            id: p.id,
            name: p.name,
            description: p.description,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

#[derive(Debug, Object)]
pub struct ProjectList {
    pub data: Vec<Project>,
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct ProjectToken {
    /// Who or what will use the token (1-128 characters, not only spaces).
    #[oai(validator(max_length = 128, pattern = r"[^\s\x85]"))]
    pub name: String,
    /// ADMIN (everything in the project), CLIENT (send and receive
    /// messages, and read) or VIEWER (read only); lower case is accepted.
    #[oai(validator(pattern = r"^(ADMIN|CLIENT|VIEWER|admin|client|viewer)$"))]
    pub role: String,
    /// The token's own rate limit instead of the settings' (set by global
    /// admins only).
    #[oai(nullable)]
    pub rate_limit: Option<RateLimit>,
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct GrantRequest {
    /// Kafka: only topics and consumer groups whose names start with it
    /// (a topic name itself: letters, digits, `.`, `_`, `-`); absent, null
    /// or empty for the whole cluster.
    #[oai(
        nullable,
        validator(
            pattern = r"^([A-Za-z0-9_-][A-Za-z0-9._-]{0,248}|\.[A-Za-z0-9_-][A-Za-z0-9._-]{0,247}|\.\.[A-Za-z0-9._-]{1,247})?$"
        )
    )]
    pub topic_prefix: Option<String>,
    /// MySQL/TiDB: usable as a changefeed's upstream.
    #[oai(default, nullable)]
    pub source: bool,
    /// Usable as a changefeed's downstream.
    #[oai(default, nullable)]
    pub target: bool,
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct GrantView {
    pub project_id: String,
    pub cluster_id: String,
    #[oai(nullable)]
    pub topic_prefix: Option<String>,
    pub source: bool,
    pub target: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Grant> for GrantView {
    fn from(g: Grant) -> Self {
        Self {
            project_id: g.project_id,
            cluster_id: g.cluster_id.to_string(),
            topic_prefix: g.topic_prefix,
            source: g.source,
            target: g.target,
            created_at: g.created_at,
            updated_at: g.updated_at,
        }
    }
}

#[derive(Debug, Object)]
pub struct GrantList {
    pub data: Vec<GrantView>,
}

#[derive(ApiResponse)]
pub enum Created {
    #[oai(status = 201)]
    Created(Json<Project>),
}

#[derive(ApiResponse)]
pub enum TokenCreated {
    #[oai(status = 201)]
    Created(Json<MintedToken>),
}

#[derive(ApiResponse)]
pub enum Deleted {
    #[oai(status = 204)]
    Deleted,
}

/// A project as `identity` may see it: global tokens (with `global_role`)
/// see every project, a project's tokens (with `project_role`) their own;
/// for anyone else it does not exist.
fn reach(
    identity: &Identity,
    project: &str,
    global_role: Role,
    project_role: Role,
) -> NativeResult<()> {
    match identity.project_id() {
        None => Ok(identity.require(global_role)?),
        Some(own) if own == project => Ok(identity.require(project_role)?),
        Some(_) => Err(NativeError::not_found(format!("no project {project}"))),
    }
}

fn parse_role(raw: &str) -> NativeResult<Role> {
    match raw.trim().to_ascii_uppercase().as_str() {
        "ADMIN" => Ok(Role::Admin),
        "CLIENT" => Ok(Role::Client),
        "VIEWER" => Ok(Role::Viewer),
        _ => Err(NativeError::bad_request(format!(
            "role `{raw}` is not one of ADMIN, CLIENT, VIEWER"
        ))),
    }
}

fn cluster_id(raw: &str) -> NativeResult<ClusterId> {
    ClusterId::parse(raw).ok_or_else(|| NativeError::not_found(format!("no cluster {raw}")))
}

pub struct ProjectsApi;

#[OpenApi(prefix_path = "/api/v1/projects", tag = "ApiTags::Projects")]
impl ProjectsApi {
    /// Create a project (global admins).
    #[oai(path = "/", method = "post")]
    async fn create(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        body: Json<NewProject>,
    ) -> NativeResult<Created> {
        auth.0.require_global(Role::Admin)?;
        let body = body.0;
        let input = ProjectInput {
            id: Some(body.id),
            name: Some(body.name),
            description: body.description,
        };
        let project = projects::create(&state.store.db, input).await?;
        Ok(Created::Created(Json(project.into())))
    }

    /// Projects: every one for global tokens, its own for a project's.
    #[oai(path = "/", method = "get")]
    async fn list(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
    ) -> NativeResult<Json<ProjectList>> {
        auth.0.require(Role::Viewer)?;
        let all = projects::list(&state.store.db).await?;
        let data = all
            .into_iter()
            .filter(|p| auth.0.owns(Some(&p.id)))
            .map(Into::into)
            .collect();
        Ok(Json(ProjectList { data }))
    }

    /// One project.
    #[oai(path = "/:id", method = "get")]
    async fn get(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
    ) -> NativeResult<Json<Project>> {
        reach(&auth.0, &id.0, Role::Viewer, Role::Viewer)?;
        Ok(Json(projects::get(&state.store.db, &id.0).await?.into()))
    }

    /// Change a project's name or description (global admins).
    #[oai(path = "/:id", method = "put")]
    async fn update(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
        body: Json<ProjectRequest>,
    ) -> NativeResult<Json<Project>> {
        auth.0.require_global(Role::Admin)?;
        let body = body.0;
        let input = ProjectInput {
            id: body.id,
            name: body.name,
            description: body.description,
        };
        Ok(Json(
            projects::update(&state.store.db, &id.0, input)
                .await?
                .into(),
        ))
    }

    /// Delete a project that owns nothing any more (global admins); one with
    /// grants, tokens or changefeeds is refused with 409.
    #[oai(path = "/:id", method = "delete")]
    async fn delete(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
    ) -> NativeResult<Deleted> {
        auth.0.require_global(Role::Admin)?;
        projects::delete(&state.store.db, &id.0).await?;
        Ok(Deleted::Deleted)
    }

    /// Mint a token of the project (global admins, the project's ADMINs).
    /// The token is returned once.
    #[oai(path = "/:id/tokens", method = "post")]
    async fn mint(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
        body: Json<ProjectToken>,
    ) -> NativeResult<TokenCreated> {
        reach(&auth.0, &id.0, Role::Admin, Role::Admin)?;
        let name = body.0.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 128 {
            return Err(NativeError::bad_request(
                "name is required (1-128 characters)",
            ));
        }
        let role = parse_role(&body.0.role)?;
        if body.0.rate_limit.is_some() {
            // A project's ADMIN must not lift its own project's limit.
            auth.0.require_global(Role::Admin)?;
        }
        let token = tokens::generate();
        let row = tokens::mint_for_project(
            &state.store.db,
            &id.0,
            &name,
            role,
            &token,
            &auth.0.name,
            body.0.rate_limit.map(Into::into),
        )
        .await?;
        Ok(TokenCreated::Created(Json(MintedToken {
            id: row.id,
            name: row.name,
            role: row.role.as_str().to_ascii_uppercase(),
            token,
            created_at: row.created_at,
        })))
    }

    /// The project's tokens, without their secrets.
    #[oai(path = "/:id/tokens", method = "get")]
    async fn tokens(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
    ) -> NativeResult<Json<TokenList>> {
        reach(&auth.0, &id.0, Role::Admin, Role::Admin)?;
        projects::get(&state.store.db, &id.0).await?;
        let rows = tokens::list(&state.store.db, Some(&id.0)).await?;
        Ok(Json(TokenList {
            data: rows
                .into_iter()
                .map(|t| {
                    let role = t.role.as_str().to_ascii_uppercase();
                    TokenView::new(t, role)
                })
                .collect(),
        }))
    }

    /// Revoke a token of the project. It stops working at once here, within
    /// two seconds everywhere.
    #[oai(path = "/:id/tokens/:token_id", method = "delete")]
    async fn revoke(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
        token_id: Path<String>,
    ) -> NativeResult<Deleted> {
        reach(&auth.0, &id.0, Role::Admin, Role::Admin)?;
        if tokens::revoke(&state.store.db, Some(&id.0), &token_id.0).await? {
            state.tokens.forget_all();
        }
        Ok(Deleted::Deleted)
    }

    /// The project's grants.
    #[oai(path = "/:id/grants", method = "get")]
    async fn grants(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
    ) -> NativeResult<Json<GrantList>> {
        reach(&auth.0, &id.0, Role::Viewer, Role::Viewer)?;
        projects::get(&state.store.db, &id.0).await?;
        let data = projects::grants(&state.store.db, &id.0)
            .await?
            .into_iter()
            .map(Into::into)
            .collect();
        Ok(Json(GrantList { data }))
    }

    /// The project's grant on one cluster.
    #[oai(path = "/:id/grants/:cluster_id", method = "get")]
    async fn grant(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
        cluster_id: Path<String>,
    ) -> NativeResult<Json<GrantView>> {
        reach(&auth.0, &id.0, Role::Viewer, Role::Viewer)?;
        let cluster = self::cluster_id(&cluster_id.0)?;
        Ok(Json(
            projects::grant(&state.store.db, &id.0, cluster)
                .await?
                .into(),
        ))
    }

    /// Let the project use a cluster (global admins): a Kafka cluster whole
    /// or under a topic prefix, a MySQL/TiDB cluster as a changefeed source,
    /// target or both. Replaces an earlier grant on the same cluster.
    #[oai(path = "/:id/grants/:cluster_id", method = "put")]
    async fn set_grant(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
        cluster_id: Path<String>,
        body: Json<GrantRequest>,
    ) -> NativeResult<Json<GrantView>> {
        auth.0.require_global(Role::Admin)?;
        let cluster = self::cluster_id(&cluster_id.0)?;
        let body = body.0;
        let input = GrantInput {
            topic_prefix: body.topic_prefix,
            source: body.source,
            target: body.target,
        };
        let grant = projects::set_grant(&state.store, &id.0, cluster, input).await?;
        // The project's tokens see the change at once in this process.
        state.tokens.forget_all();
        Ok(Json(grant.into()))
    }

    /// Take a cluster away from the project (global admins).
    #[oai(path = "/:id/grants/:cluster_id", method = "delete")]
    async fn remove_grant(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
        cluster_id: Path<String>,
    ) -> NativeResult<Deleted> {
        auth.0.require_global(Role::Admin)?;
        let cluster = self::cluster_id(&cluster_id.0)?;
        projects::remove_grant(&state.store.db, &id.0, cluster).await?;
        state.tokens.forget_all();
        Ok(Deleted::Deleted)
    }
}
