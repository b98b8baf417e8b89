//! A worker process that claims tasks, with its heartbeat (migration 19).
//! A worker whose heartbeat stops is lost, and its running tasks go back
//! into the queue.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "task_workers")]
pub struct Model {
    /// The name the worker writes into the tasks it claims (`tasks.worker`).
    #[sea_orm(primary_key, auto_increment = false)]
    pub name: String,
    pub started_at: DateTimeUtc,
    pub heartbeat_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
