//! What a project may use of a registered cluster: a Kafka cluster whole or
//! under a topic prefix; a MySQL/TiDB cluster as a changefeed source, a
//! target, or both.

use sea_orm::entity::prelude::*;

use crate::domain::ClusterId;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "project_grants")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub project_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub cluster_id: ClusterId,
    /// Kafka: only topics (and consumer groups) whose names start with it;
    /// `None` for the whole cluster.
    pub topic_prefix: Option<String>,
    /// MySQL/TiDB: usable as a changefeed's upstream.
    pub source: bool,
    /// Usable as a changefeed's downstream.
    pub target: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
