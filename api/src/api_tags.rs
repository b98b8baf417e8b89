//! Swagger UI groups.

use poem_openapi::Tags;

#[derive(Tags)]
pub enum ApiTags {
    /// Durable tasks: every change ferry makes to a cluster is one.
    Tasks,
    /// The registry of Kafka and MySQL/TiDB clusters.
    Clusters,
    /// Bearer tokens and their roles.
    Tokens,
    /// Who changed what, and when.
    Audit,
    /// Projects (teams), their tokens and what they are granted.
    Projects,
    /// Desired-state documents planned, reviewed and applied as tasks;
    /// drift watched.
    Changesets,
    /// TubeMQ Manager compatible routes: clusters, addTopicTask, queryCanWrite.
    TubeMq,
    /// TiEM compatible changefeeds: replicate a MySQL binlog downstream.
    Changefeeds,
    /// Confluent REST Proxy v3 compatible Kafka admin: topics, partitions,
    /// configs, brokers and consumer groups.
    Confluent,
    /// Confluent REST Proxy v2 compatible topics, partitions and brokers, and
    /// produce; the cluster is chosen without being named (`/topics`).
    ConfluentV2,
    /// EasyQueue compatible topics and statistics of a project (`appKey`).
    EasyQueue,
    /// DigitalOcean compatible Kafka topics (`/v2/databases/{uuid}/topics`).
    DigitalOcean,
}
