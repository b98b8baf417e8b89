//! `GET /api/v1/session`: who the caller is, as its token says. The web
//! console asks it once at sign-in to decide which controls to show (a
//! viewer sees none that change anything) and which pages a project token
//! has (only its project's); the API still checks every call on its own.
//! It answers the token's name, role and project, never the token itself.

use ferry_entity::Role;
use poem_openapi::{Object, OpenApi, payload::Json};

use super::{NativeResult, projects::GrantView};
use crate::{api_tags::ApiTags, auth::BearerAuth};

/// The caller's token, without its secret.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct Session {
    /// The token's id (as `GET /api/v1/tokens` lists it).
    pub token_id: String,
    /// The token's name: the actor of its tasks and audit entries.
    pub name: String,
    /// admin, client or viewer; for a project's token, its role within the
    /// project (ADMIN, CLIENT, VIEWER in the projects API).
    pub role: String,
    /// The project of a project token; null for a global token.
    #[oai(nullable)]
    pub project_id: Option<String>,
    /// A global token with the admin role: it manages clusters, projects,
    /// global tokens and reads the whole audit log.
    pub global_admin: bool,
    /// A project token's grants: the clusters it reaches and, on Kafka
    /// clusters, the topic prefix it is held to. Empty for a global token,
    /// which reaches every cluster.
    pub grants: Vec<GrantView>,
}

pub struct SessionApi;

#[OpenApi(prefix_path = "/api/v1/session", tag = "ApiTags::Tokens")]
impl SessionApi {
    /// Who the calling token is: its name, role and project (any valid
    /// token). The secret is never part of the answer.
    #[oai(path = "/", method = "get")]
    async fn get(&self, auth: BearerAuth) -> NativeResult<Json<Session>> {
        let identity = auth.0;
        identity.require(Role::Viewer)?;
        let global_admin = identity.is_global() && identity.role.allows(Role::Admin);
        let (project_id, grants) = match identity.project {
            None => (None, Vec::new()),
            Some(p) => (
                Some(p.id),
                p.grants.into_iter().map(GrantView::from).collect(),
            ),
        };
        Ok(Json(Session {
            token_id: identity.token_id,
            name: identity.name,
            role: identity.role.as_str().to_owned(),
            project_id,
            global_admin,
            grants,
        }))
    }
}
