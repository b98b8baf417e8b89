//! One REST Proxy v2 consumer instance (`/consumers/{group}/instances/{name}`):
//! how it consumes, and which `ferry-api` process holds its Kafka consumer.
//! Any process answers for any instance: the one that does not hold it
//! forwards to `owner_url`, or takes the instance over when the owner's
//! lease has run out (`ferry_service::consumers`). Times are epoch
//! milliseconds.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use crate::domain::ClusterId;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "consumer_instances")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub cluster_id: ClusterId,
    pub group_name: String,
    /// The instance id, unique within its group and cluster.
    pub name: String,
    pub format: ConsumerFormat,
    pub settings: ConsumerSettings,
    /// What the instance reads: `None` until it subscribes or is assigned.
    pub subscription: Option<Subscription>,
    /// The process that holds the instance's consumer, while
    /// `lease_until_ms` is ahead; `None` when nobody does (it was released
    /// at a clean shutdown), so the next call's process takes it.
    pub owner: Option<String>,
    /// Where the owner answers, for forwarded calls.
    pub owner_url: Option<String>,
    pub lease_until_ms: Option<i64>,
    /// The last call to the instance, as its owner last recorded it: an
    /// instance idle for `consumer_instance_timeout_ms` is removed.
    pub last_used_ms: i64,
    pub created_ms: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// The embedded format of the records an instance returns; a `records`
/// call must accept the matching content type.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "lowercase")]
pub enum ConsumerFormat {
    /// Keys and values as base64 strings.
    #[sea_orm(string_value = "binary")]
    Binary,
    /// Keys and values as the JSON documents they hold.
    #[sea_orm(string_value = "json")]
    Json,
    /// Keys and values in the schema registry's wire format, as JSON:
    /// Avro's JSON encoding, JSON Schema's document, Protobuf's JSON mapping.
    #[sea_orm(string_value = "avro")]
    Avro,
    #[sea_orm(string_value = "jsonschema")]
    JsonSchema,
    #[sea_orm(string_value = "protobuf")]
    Protobuf,
}

impl ConsumerFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            ConsumerFormat::Binary => "binary",
            ConsumerFormat::Json => "json",
            ConsumerFormat::Avro => "avro",
            ConsumerFormat::JsonSchema => "jsonschema",
            ConsumerFormat::Protobuf => "protobuf",
        }
    }
}

/// Where an instance starts reading a partition its group has no committed
/// offset for (`auto.offset.reset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OffsetReset {
    Earliest,
    Latest,
    /// Reading such a partition fails.
    None,
}

impl OffsetReset {
    pub fn as_str(self) -> &'static str {
        match self {
            OffsetReset::Earliest => "earliest",
            OffsetReset::Latest => "latest",
            OffsetReset::None => "none",
        }
    }
}

/// The consumer settings a create call may give (the REST Proxy's names in
/// comments).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, FromJsonQueryResult)]
pub struct ConsumerSettings {
    /// `auto.offset.reset`; Kafka's default is `latest`.
    pub auto_offset_reset: OffsetReset,
    /// `auto.commit.enable`: the offsets of returned records are committed
    /// every few seconds; Kafka's default is on.
    pub auto_commit: bool,
    /// `fetch.min.bytes`: a `records` call waits, up to its timeout, until
    /// this much has arrived; unset, it answers as soon as records are there.
    pub fetch_min_bytes: Option<u64>,
    /// `consumer.request.timeout.ms`: the longest a `records` call waits.
    pub request_timeout_ms: Option<u64>,
    /// The topic prefix of the project whose token created the instance: a
    /// pattern subscription reads only topics under it.
    #[serde(default)]
    pub name_prefix: Option<String>,
}

/// One partition of a topic.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: i32,
}

/// What an instance reads: topics or a pattern through its group's
/// rebalancing, or partitions it was assigned by hand. The REST Proxy keeps
/// the three mutually exclusive (40903).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, FromJsonQueryResult)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Subscription {
    Topics {
        topics: Vec<String>,
    },
    /// A regular expression a whole topic name must match (as Java's
    /// `Pattern.matches`).
    Pattern {
        pattern: String,
    },
    Assignments {
        partitions: Vec<TopicPartition>,
    },
}
