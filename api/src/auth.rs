//! Bearer tokens and roles. A token is shown once when minted; only its
//! SHA-256 digest is stored (tokens are 256-bit random, so a fast hash is
//! enough, unlike passwords).

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::Utc;
use ferry_entity::{
    Role,
    api_token::{self, Entity as Tokens},
};
use poem::{Endpoint, IntoResponse, Request, Response};
use poem_openapi::{SecurityScheme, auth::Bearer};
use rand::RngCore;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter,
};
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};

use crate::state::AppState;

/// Who is calling, resolved from the bearer token.
#[derive(Debug, Clone)]
pub struct Identity {
    pub token_id: String,
    pub name: String,
    pub role: Role,
}

/// A caller whose role is below what the operation needs.
#[derive(Debug, thiserror::Error)]
#[error("role `{have}` may not do this; it needs `{need}`")]
pub struct Forbidden {
    pub have: &'static str,
    pub need: &'static str,
}

impl Identity {
    pub fn require(&self, needed: Role) -> Result<(), Forbidden> {
        if self.role.allows(needed) {
            Ok(())
        } else {
            Err(Forbidden {
                have: self.role.as_str(),
                need: needed.as_str(),
            })
        }
    }
}

/// `Authorization: Bearer <token>` on every route but health and docs.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", checker = "identity_of")]
pub struct BearerAuth(pub Identity);

/// The `authenticate` middleware has already looked the token up; a request
/// without an identity gets 401 in its dialect's envelope.
async fn identity_of(req: &Request, _bearer: Bearer) -> Option<Identity> {
    req.extensions().get::<Identity>().cloned()
}

pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

pub fn generate_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("fy_{}", URL_SAFE_NO_PAD.encode(bytes))
}

pub async fn lookup(db: &DatabaseConnection, token: &str) -> Result<Option<Identity>, DbErr> {
    lookup_digest(db, &hash_token(token)).await
}

/// Looks a token up by its digest, for callers that already computed it.
async fn lookup_digest(db: &DatabaseConnection, digest: &str) -> Result<Option<Identity>, DbErr> {
    let found = Tokens::find()
        .filter(api_token::Column::TokenHash.eq(digest))
        .filter(api_token::Column::RevokedAt.is_null())
        .one(db)
        .await?;
    Ok(found.map(|t| Identity {
        token_id: t.id,
        name: t.name,
        role: t.role,
    }))
}

/// Stores a new token and returns its row.
pub async fn mint(
    db: &DatabaseConnection,
    name: &str,
    role: Role,
    token: &str,
    created_by: &str,
) -> Result<api_token::Model, DbErr> {
    api_token::ActiveModel {
        id: Set(uuid::Uuid::now_v7().to_string()),
        name: Set(name.to_owned()),
        role: Set(role),
        token_hash: Set(hash_token(token)),
        created_by: Set(created_by.to_owned()),
        created_at: Set(Utc::now()),
        revoked_at: Set(None),
    }
    .insert(db)
    .await
}

/// Makes sure an admin can log in: `FERRY_ADMIN_TOKEN` is registered when
/// set; otherwise, when no admin token exists yet, one is generated and
/// printed once.
pub async fn bootstrap_admin(state: &AppState) -> anyhow::Result<()> {
    let db = &state.store.db;
    if let Some(token) = &state.settings.admin_token {
        let token = token.expose_secret();
        if lookup(db, token).await?.is_none() {
            // Another process may register the same token at the same moment;
            // the unique digest makes the loser's insert fail harmlessly.
            if let Err(err) = mint(db, "admin", Role::Admin, token, "FERRY_ADMIN_TOKEN").await
                && lookup(db, token).await?.is_none()
            {
                return Err(err.into());
            }
        }
        return Ok(());
    }
    let admins = Tokens::find()
        .filter(api_token::Column::Role.eq(Role::Admin))
        .filter(api_token::Column::RevokedAt.is_null())
        .one(db)
        .await?;
    if admins.is_none() {
        let token = generate_token();
        mint(db, "admin", Role::Admin, &token, "bootstrap").await?;
        // Printed on stdout, not logged: it must not reach log collectors.
        println!("ferry: generated the admin token (shown only this once): {token}");
    }
    Ok(())
}

/// Valid tokens seen lately, by digest, so that a busy client does not cost a
/// database read per request. A revoked token stops working within this TTL.
pub struct TokenCache(moka::sync::Cache<String, Identity>);

/// How long a revocation may take to reach every API process.
pub const TOKEN_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(2);

impl Default for TokenCache {
    fn default() -> Self {
        Self(
            moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(TOKEN_CACHE_TTL)
                .build(),
        )
    }
}

impl TokenCache {
    pub fn forget_all(&self) {
        self.0.invalidate_all();
    }
}

/// Resolves the bearer token, if any, into an [`Identity`] stored in the
/// request's extensions for the routes and the audit log.
pub async fn authenticate<E: Endpoint>(next: E, mut req: Request) -> poem::Result<Response> {
    let token = req
        .headers()
        .get(poem::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(|t| t.trim().to_owned());
    if let (Some(token), Some(state)) = (token, req.data::<AppState>().cloned()) {
        let digest = hash_token(&token);
        if let Some(identity) = state.tokens.0.get(&digest) {
            req.extensions_mut().insert(identity);
            return next.call(req).await.map(IntoResponse::into_response);
        }
        match lookup_digest(&state.store.db, &digest).await {
            Ok(Some(identity)) => {
                state.tokens.0.insert(digest, identity.clone());
                req.extensions_mut().insert(identity);
            }
            Ok(None) => {}
            Err(err) => tracing::error!(error = %err, "token lookup failed"),
        }
    }
    next.call(req).await.map(IntoResponse::into_response)
}
