//! `/api/v1/tokens`: global admins mint, list and revoke global bearer
//! tokens (a project's tokens are under `/api/v1/projects/{id}/tokens`).

use chrono::{DateTime, Utc};
use ferry_entity::Role;
use ferry_service::tokens;
use poem_openapi::{ApiResponse, Object, OpenApi, param::Path, payload::Json};

use super::{NativeError, NativeResult};
use crate::{api_tags::ApiTags, auth::BearerAuth, state::AppState};

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct MintToken {
    /// Who or what will use the token; recorded on its tasks and audit
    /// entries (1-128 characters, not only spaces).
    #[oai(validator(max_length = 128, pattern = r"[^\s\x85]"))]
    pub name: String,
    /// admin, client or viewer.
    #[oai(validator(pattern = r"^(admin|client|viewer)$"))]
    pub role: String,
    /// The token's own rate limit instead of the settings' (global admins
    /// only set it).
    #[oai(nullable)]
    pub rate_limit: Option<RateLimit>,
}

/// Requests per second and the burst above it.
#[derive(Debug, Clone, Copy, Object)]
#[oai(rename_all = "camelCase")]
pub struct RateLimit {
    #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))]
    pub per_second: u32,
    #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))]
    pub burst: u32,
}

impl From<RateLimit> for tokens::RateOverride {
    fn from(r: RateLimit) -> Self {
        Self {
            per_second: r.per_second,
            burst: r.burst,
        }
    }
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct MintedToken {
    pub id: String,
    pub name: String,
    pub role: String,
    /// Shown only in this response; store it now.
    pub token: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct TokenView {
    pub id: String,
    pub name: String,
    pub role: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    #[oai(nullable)]
    pub revoked_at: Option<DateTime<Utc>>,
}

impl TokenView {
    /// A token without its secret; `role` as the caller's dialect spells it.
    pub fn new(t: ferry_entity::api_token::Model, role: String) -> Self {
        Self {
            id: t.id,
            name: t.name,
            role,
            created_by: t.created_by,
            created_at: t.created_at,
            revoked_at: t.revoked_at,
        }
    }
}

#[derive(Debug, Object)]
pub struct TokenList {
    pub data: Vec<TokenView>,
}

#[derive(ApiResponse)]
pub enum Minted {
    #[oai(status = 201)]
    Created(Json<MintedToken>),
}

#[derive(ApiResponse)]
pub enum Revoked {
    #[oai(status = 204)]
    Revoked,
}

pub struct TokensApi;

#[OpenApi(prefix_path = "/api/v1/tokens", tag = "ApiTags::Tokens")]
impl TokensApi {
    /// Mint a global token (global admins). The token is returned once.
    #[oai(path = "/", method = "post")]
    async fn mint(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        body: Json<MintToken>,
    ) -> NativeResult<Minted> {
        auth.0.require_global(Role::Admin)?;
        let name = body.0.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 128 {
            return Err(NativeError::bad_request(
                "name is required (1-128 characters)",
            ));
        }
        let role = Role::parse(&body.0.role).ok_or_else(|| {
            NativeError::bad_request(format!(
                "role `{}` is not one of admin, client, viewer",
                body.0.role
            ))
        })?;
        let token = tokens::generate();
        let row = tokens::mint_in(
            &state.store.db,
            None,
            &name,
            role,
            &token,
            &auth.0.name,
            body.0.rate_limit.map(Into::into),
        )
        .await?;
        Ok(Minted::Created(Json(MintedToken {
            id: row.id,
            name: row.name,
            role: row.role.as_str().to_owned(),
            token,
            created_at: row.created_at,
        })))
    }

    /// List global tokens (global admins), without their secrets.
    #[oai(path = "/", method = "get")]
    async fn list(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
    ) -> NativeResult<Json<TokenList>> {
        auth.0.require_global(Role::Admin)?;
        let rows = tokens::list(&state.store.db, None).await?;
        Ok(Json(TokenList {
            data: rows
                .into_iter()
                .map(|t| {
                    let role = t.role.as_str().to_owned();
                    TokenView::new(t, role)
                })
                .collect(),
        }))
    }

    /// Revoke a global token (global admins). It stops working at once.
    #[oai(path = "/:id", method = "delete")]
    async fn revoke(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
    ) -> NativeResult<Revoked> {
        auth.0.require_global(Role::Admin)?;
        if tokens::revoke(&state.store.db, None, &id.0).await? {
            // This process stops accepting it at once; others within the TTL.
            state.tokens.forget_all();
        }
        Ok(Revoked::Revoked)
    }
}
