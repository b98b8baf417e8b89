//! The task queue: one row per batch of tasks waiting for an attempt,
//! named by the tasks' batch key (`tasks.job_key`: a task's own id, or the
//! first id of a request's batch), migration 19. A claim deletes the rows
//! it takes and starts the pending tasks of their keys; the `tasks` rows
//! are the record of everything else.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "task_queue")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub job_key: String,
    /// When the attempt may start: at submission, or after a retry's
    /// backoff.
    pub run_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
