//! The token registry: bearer tokens and their roles. A token is shown once
//! when minted; only its SHA-256 digest is stored (tokens are 256-bit
//! random, so a fast hash is enough, unlike passwords). [`TokenCache`] keeps
//! recently validated tokens so that a busy client does not cost a database
//! read per request.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::Utc;
use ferry_entity::{
    Role,
    api_token::{self, Entity as Tokens, Model},
    project_grant,
};
use rand::RngCore;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, QueryOrder,
};
use sha2::{Digest, Sha256};

pub use crate::access::RateOverride;
pub use crate::access::{Forbidden, Identity};
use crate::{access::ProjectScope, error::ServiceError, projects};

pub fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A new random token: `fy_` and 256 bits, URL-safe base64.
pub fn generate() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("fy_{}", URL_SAFE_NO_PAD.encode(bytes))
}

pub async fn lookup(db: &DatabaseConnection, token: &str) -> Result<Option<Identity>, DbErr> {
    lookup_digest(db, &digest(token)).await
}

/// Looks a valid (unrevoked) token up by its digest.
pub async fn lookup_digest(
    db: &DatabaseConnection,
    digest: &str,
) -> Result<Option<Identity>, DbErr> {
    let found = Tokens::find()
        .filter(api_token::Column::TokenHash.eq(digest))
        .filter(api_token::Column::RevokedAt.is_null())
        .one(db)
        .await?;
    let Some(token) = found else {
        return Ok(None);
    };
    let project = match &token.project_id {
        None => None,
        Some(id) => Some(ProjectScope {
            id: id.clone(),
            grants: project_grant::Entity::find()
                .filter(project_grant::Column::ProjectId.eq(id))
                .all(db)
                .await?,
        }),
    };
    let rate = token
        .rate_per_second
        .zip(token.rate_burst)
        .and_then(|(per_second, burst)| {
            Some(RateOverride {
                per_second: u32::try_from(per_second).ok()?,
                burst: u32::try_from(burst).ok()?,
            })
        });
    Ok(Some(Identity {
        token_id: token.id,
        name: token.name,
        role: token.role,
        project,
        rate,
    }))
}

/// Whether `token` was registered and then revoked.
pub async fn is_revoked(db: &DatabaseConnection, token: &str) -> Result<bool, DbErr> {
    Ok(Tokens::find()
        .filter(api_token::Column::TokenHash.eq(digest(token)))
        .filter(api_token::Column::RevokedAt.is_not_null())
        .one(db)
        .await?
        .is_some())
}

/// Stores a new global token and returns its row.
pub async fn mint(
    db: &DatabaseConnection,
    name: &str,
    role: Role,
    token: &str,
    created_by: &str,
) -> Result<Model, DbErr> {
    mint_in(db, None, name, role, token, created_by, None).await
}

/// Stores a new token, of `project` when given, with its own rate limit
/// when given, and returns its row.
pub async fn mint_in(
    db: &DatabaseConnection,
    project: Option<&str>,
    name: &str,
    role: Role,
    token: &str,
    created_by: &str,
    rate: Option<RateOverride>,
) -> Result<Model, DbErr> {
    api_token::ActiveModel {
        id: Set(uuid::Uuid::now_v7().to_string()),
        name: Set(name.to_owned()),
        role: Set(role),
        token_hash: Set(digest(token)),
        created_by: Set(created_by.to_owned()),
        created_at: Set(Utc::now()),
        revoked_at: Set(None),
        project_id: Set(project.map(str::to_owned)),
        rate_per_second: Set(rate.map(|r| i32::try_from(r.per_second).unwrap_or(i32::MAX))),
        rate_burst: Set(rate.map(|r| i32::try_from(r.burst).unwrap_or(i32::MAX))),
    }
    .insert(db)
    .await
}

/// Mints a token of a project (which must exist) and returns its row.
pub async fn mint_for_project(
    db: &DatabaseConnection,
    project: &str,
    name: &str,
    role: Role,
    token: &str,
    created_by: &str,
    rate: Option<RateOverride>,
) -> Result<Model, ServiceError> {
    projects::get(db, project).await?;
    Ok(mint_in(db, Some(project), name, role, token, created_by, rate).await?)
}

/// Tokens, oldest first, without secrets (only digests are stored): the
/// global ones, or one project's.
pub async fn list(db: &DatabaseConnection, project: Option<&str>) -> Result<Vec<Model>, DbErr> {
    let query = Tokens::find().order_by_asc(api_token::Column::CreatedAt);
    let query = match project {
        None => query.filter(api_token::Column::ProjectId.is_null()),
        Some(p) => query.filter(api_token::Column::ProjectId.eq(p)),
    };
    query.all(db).await
}

/// Whether an unrevoked admin token exists.
pub async fn has_admin(db: &DatabaseConnection) -> Result<bool, DbErr> {
    Ok(Tokens::find()
        .filter(api_token::Column::Role.eq(Role::Admin))
        .filter(api_token::Column::RevokedAt.is_null())
        .one(db)
        .await?
        .is_some())
}

/// Revokes a token of `project` (a global token for `None`); revoking it
/// again changes nothing. Returns whether it was valid until now.
pub async fn revoke(
    db: &DatabaseConnection,
    project: Option<&str>,
    id: &str,
) -> Result<bool, ServiceError> {
    let row = Tokens::find_by_id(id.to_owned())
        .one(db)
        .await?
        .filter(|t| t.project_id.as_deref() == project)
        .ok_or_else(|| ServiceError::not_found(format!("no token {id}")))?;
    if row.revoked_at.is_some() {
        return Ok(false);
    }
    let mut active: api_token::ActiveModel = row.into();
    active.revoked_at = Set(Some(Utc::now()));
    active.update(db).await?;
    Ok(true)
}

/// Valid tokens seen lately, by digest. A revoked token stops working within
/// [`TOKEN_CACHE_TTL`] in every process (at once in the one that revoked it).
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
    pub fn get(&self, digest: &str) -> Option<Identity> {
        self.0.get(digest)
    }

    pub fn insert(&self, digest: String, identity: Identity) {
        self.0.insert(digest, identity);
    }

    pub fn forget_all(&self) {
        self.0.invalidate_all();
    }
}
