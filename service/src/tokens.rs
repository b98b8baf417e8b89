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
};
use rand::RngCore;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, QueryOrder,
};
use sha2::{Digest, Sha256};

use crate::error::ServiceError;

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
    Ok(found.map(|t| Identity {
        token_id: t.id,
        name: t.name,
        role: t.role,
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

/// Stores a new token and returns its row.
pub async fn mint(
    db: &DatabaseConnection,
    name: &str,
    role: Role,
    token: &str,
    created_by: &str,
) -> Result<Model, DbErr> {
    api_token::ActiveModel {
        id: Set(uuid::Uuid::now_v7().to_string()),
        name: Set(name.to_owned()),
        role: Set(role),
        token_hash: Set(digest(token)),
        created_by: Set(created_by.to_owned()),
        created_at: Set(Utc::now()),
        revoked_at: Set(None),
    }
    .insert(db)
    .await
}

/// Every token, oldest first, without secrets (only digests are stored).
pub async fn list(db: &DatabaseConnection) -> Result<Vec<Model>, DbErr> {
    Tokens::find()
        .order_by_asc(api_token::Column::CreatedAt)
        .all(db)
        .await
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

/// Revokes a token; revoking it again changes nothing. Returns whether it
/// was valid until now.
pub async fn revoke(db: &DatabaseConnection, id: &str) -> Result<bool, ServiceError> {
    let row = Tokens::find_by_id(id.to_owned())
        .one(db)
        .await?
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
