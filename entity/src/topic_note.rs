//! What ferry keeps about a topic that Kafka does not: a description and
//! when ferry created and last changed it (EasyQueue shows all three). A
//! topic made elsewhere has no note; Kafka itself stays the truth of which
//! topics exist.

use sea_orm::entity::prelude::*;

use crate::domain::ClusterId;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "topic_notes")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub cluster_id: ClusterId,
    /// The topic's full name on the broker.
    #[sea_orm(primary_key, auto_increment = false)]
    pub name: String,
    pub description: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
