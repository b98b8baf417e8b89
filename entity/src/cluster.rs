//! A registered Kafka or MySQL/TiDB cluster.

use sea_orm::entity::prelude::*;

use crate::domain::{ClusterId, ClusterKind};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "clusters")]
pub struct Model {
    /// Numeric so that TubeMQ-style callers can send it as a number; the API
    /// shows it as a string.
    #[sea_orm(primary_key)]
    pub id: ClusterId,
    #[sea_orm(unique)]
    pub name: String,
    /// A stable UUID, assigned at registration: DigitalOcean's
    /// `database_cluster_uuid` and the namespace of EasyQueue's topic ids.
    #[sea_orm(unique)]
    pub uuid: String,
    pub kind: ClusterKind,
    /// Connection settings without secrets (bootstrap servers, host, port,
    /// user, TLS and SASL options).
    pub settings: Json,
    /// Secrets (passwords) as one encrypted JSON document, see
    /// `ferry_worker::secrets`. Never returned by the API.
    pub secret: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
