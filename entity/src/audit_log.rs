//! One row per mutating HTTP call: who, what, when, and how it ended.

use sea_orm::entity::prelude::*;

use crate::domain::{AuditOutcome, Role};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_log")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub at: DateTimeUtc,
    /// Token name, or `anonymous` when the call carried no valid token.
    pub actor: String,
    pub role: Option<Role>,
    /// The token, and its project, that made the call.
    pub token_id: Option<String>,
    pub project_id: Option<String>,
    /// The client's address as ferry saw it.
    pub client_addr: Option<String>,
    pub method: String,
    pub path: String,
    pub request_id: String,
    pub status: i32,
    pub outcome: AuditOutcome,
    /// Dialect-specific details, e.g. the TubeMQ `user` field.
    pub detail: Option<Json>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
