//! EasyQueue's topic object, built from ferry's topic overview.

use chrono::{DateTime, Utc};
use ferry_service::topics::overview::{Health, TopicOverview};
use poem_openapi::Object;

use super::AppKey;

/// Kafka's configs behind EasyQueue's three limits.
pub const RETENTION_MS: &str = "retention.ms";
pub const RETENTION_BYTES: &str = "retention.bytes";
pub const MAX_MESSAGE_BYTES: &str = "max.message.bytes";
pub const CONFIGS: &[&str] = &[RETENTION_MS, RETENTION_BYTES, MAX_MESSAGE_BYTES];

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", rename = "EasyQueueTopic")]
pub struct Topic {
    /// A stable id derived from the cluster and the topic's name.
    pub topic_id: String,
    /// `{appKey}.{name}`, the topic's name on the broker.
    pub topic_name: String,
    pub description: String,
    pub bootstrap_server: String,
    pub partition_count: i32,
    #[oai(nullable)]
    pub max_retention_time_ms: Option<i64>,
    #[oai(nullable)]
    pub max_retention_bytes: Option<i64>,
    #[oai(nullable)]
    pub max_message_bytes: Option<i32>,
    /// Records kept in all partitions now.
    pub total_message_count: i64,
    /// Consumer groups that committed an offset on the topic.
    pub consumer_group_count: i32,
    /// When ferry created the topic; null for a topic made elsewhere.
    #[oai(nullable)]
    pub created_at: Option<DateTime<Utc>>,
    #[oai(nullable)]
    pub updated_at: Option<DateTime<Utc>>,
    /// `ACTIVE`, `WARNING` (a change is under way, or partitions are
    /// under-replicated), `ERROR` (a partition has no leader, or the last
    /// change failed) or `DELETING`.
    pub topic_status: String,
}

pub fn status_word(health: Health) -> &'static str {
    match health {
        Health::Deleting => "DELETING",
        Health::Broken | Health::LastChangeFailed => "ERROR",
        Health::Changing | Health::UnderReplicated => "WARNING",
        Health::Active => "ACTIVE",
    }
}

pub fn topic(app: &AppKey, o: &TopicOverview) -> Topic {
    let number = |name: &str| o.configs.get(name).and_then(|v| v.parse::<i64>().ok());
    Topic {
        topic_id: app.topic_id(&o.name),
        topic_name: o.name.clone(),
        description: o
            .note
            .as_ref()
            .map(|n| n.description.clone())
            .unwrap_or_default(),
        bootstrap_server: app.bootstrap_servers.clone(),
        partition_count: i32::try_from(o.partitions.len()).unwrap_or(i32::MAX),
        max_retention_time_ms: number(RETENTION_MS),
        max_retention_bytes: number(RETENTION_BYTES),
        max_message_bytes: number(MAX_MESSAGE_BYTES).and_then(|v| i32::try_from(v).ok()),
        total_message_count: o.message_count(),
        consumer_group_count: i32::try_from(o.group_names().len()).unwrap_or(i32::MAX),
        created_at: o.note.as_ref().map(|n| n.created_at),
        updated_at: o.note.as_ref().map(|n| n.updated_at),
        topic_status: status_word(o.health).to_owned(),
    }
}
