//! A durable unit of work that users can see: one row per submitted task.

use sea_orm::entity::prelude::*;

use crate::domain::TaskStatus;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "tasks")]
pub struct Model {
    /// UUID v7 as text: sorts by creation time.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub kind: String,
    pub cluster_id: Option<String>,
    pub subject: Option<String>,
    pub status: TaskStatus,
    pub attempts: i32,
    pub max_attempts: i32,
    pub last_error: Option<String>,
    pub payload: Json,
    pub result: Option<Json>,
    pub created_by: String,
    pub request_id: Option<String>,
    /// The apalis worker that ran the latest attempt.
    pub worker: Option<String>,
    pub created_at: DateTimeUtc,
    pub started_at: Option<DateTimeUtc>,
    pub finished_at: Option<DateTimeUtc>,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
