//! A bearer token. Only its SHA-256 digest is stored.

use sea_orm::entity::prelude::*;

use crate::domain::Role;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "api_tokens")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub name: String,
    pub role: Role,
    #[sea_orm(unique)]
    pub token_hash: String,
    pub created_by: String,
    /// The project the token belongs to; `None` for a global token.
    pub project_id: Option<String>,
    /// Requests per second this token may make, and its burst, over the
    /// settings' `rate_limit`.
    pub rate_per_second: Option<i32>,
    pub rate_burst: Option<i32>,
    pub created_at: DateTimeUtc,
    pub revoked_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
