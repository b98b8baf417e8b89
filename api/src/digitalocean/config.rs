//! A topic's `config` in DigitalOcean's words: snake_case names and typed
//! values (`cleanup_policy: "compact_delete"`, `message_timestamp_type:
//! "create_time"`), translated to and from Kafka's dotted names and string
//! values. The table is the one place that knows both spellings.

use std::collections::BTreeMap;

use poem_openapi::{
    Object,
    types::{ParseFromJSON, ToJSON},
};
use serde_json::{Map, Number, Value};

/// How a value is spelled on each side.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Integer,
    Bool,
    Ratio,
    Text,
    /// DigitalOcean's word and Kafka's, for each allowed value.
    Words(&'static [(&'static str, &'static str)]),
}

/// `(DigitalOcean key, Kafka config, kind)` for every key of the seed.
const KEYS: &[(&str, &str, Kind)] = &[
    (
        "cleanup_policy",
        "cleanup.policy",
        Kind::Words(&[
            ("delete", "delete"),
            ("compact", "compact"),
            ("compact_delete", "compact,delete"),
        ]),
    ),
    (
        "compression_type",
        "compression.type",
        Kind::Words(&[
            ("producer", "producer"),
            ("gzip", "gzip"),
            ("snappy", "snappy"),
            ("lz4", "lz4"),
            ("zstd", "zstd"),
            ("uncompressed", "uncompressed"),
        ]),
    ),
    ("delete_retention_ms", "delete.retention.ms", Kind::Integer),
    (
        "file_delete_delay_ms",
        "file.delete.delay.ms",
        Kind::Integer,
    ),
    ("flush_messages", "flush.messages", Kind::Integer),
    ("flush_ms", "flush.ms", Kind::Integer),
    (
        "index_interval_bytes",
        "index.interval.bytes",
        Kind::Integer,
    ),
    (
        "max_compaction_lag_ms",
        "max.compaction.lag.ms",
        Kind::Integer,
    ),
    ("max_message_bytes", "max.message.bytes", Kind::Integer),
    (
        "message_down_conversion_enable",
        "message.downconversion.enable",
        Kind::Bool,
    ),
    (
        "message_format_version",
        "message.format.version",
        Kind::Text,
    ),
    (
        "message_timestamp_difference_max_ms",
        "message.timestamp.difference.max.ms",
        Kind::Integer,
    ),
    (
        "message_timestamp_type",
        "message.timestamp.type",
        Kind::Words(&[
            ("create_time", "CreateTime"),
            ("log_append_time", "LogAppendTime"),
        ]),
    ),
    (
        "min_cleanable_dirty_ratio",
        "min.cleanable.dirty.ratio",
        Kind::Ratio,
    ),
    (
        "min_compaction_lag_ms",
        "min.compaction.lag.ms",
        Kind::Integer,
    ),
    ("min_insync_replicas", "min.insync.replicas", Kind::Integer),
    ("preallocate", "preallocate", Kind::Bool),
    ("retention_bytes", "retention.bytes", Kind::Integer),
    ("retention_ms", "retention.ms", Kind::Integer),
    ("segment_bytes", "segment.bytes", Kind::Integer),
    ("segment_index_bytes", "segment.index.bytes", Kind::Integer),
    ("segment_jitter_ms", "segment.jitter.ms", Kind::Integer),
    ("segment_ms", "segment.ms", Kind::Integer),
];

/// The one key DigitalOcean takes that Kafka no longer does.
const IGNORED: &str = "message.format.version";

/// Kafka's names of every config DigitalOcean shows, for DescribeConfigs.
pub fn kafka_names() -> Vec<&'static str> {
    KEYS.iter().map(|(_, kafka, _)| *kafka).collect()
}

/// A topic's configuration. Absent keys are left as they are (on update) or
/// take the broker's defaults (on create). Each key declares the values
/// Kafka takes for it (`topic_config`), so that the document refuses what
/// the broker would.
#[derive(Debug, Clone, Default, Object)]
#[oai(rename = "DigitalOceanTopicConfig")]
pub struct TopicConfig {
    /// `delete`, `compact` or `compact_delete`.
    #[oai(nullable, validator(pattern = r"^(delete|compact|compact_delete)$"))]
    pub cleanup_policy: Option<String>,
    /// `producer`, `gzip`, `snappy`, `lz4`, `zstd` or `uncompressed`.
    #[oai(
        nullable,
        validator(pattern = r"^(producer|gzip|snappy|lz4|zstd|uncompressed)$")
    )]
    pub compression_type: Option<String>,
    #[oai(nullable, validator(minimum(value = "0")))]
    pub delete_retention_ms: Option<i64>,
    #[oai(nullable, validator(minimum(value = "0")))]
    pub file_delete_delay_ms: Option<i64>,
    #[oai(nullable, validator(minimum(value = "1")))]
    pub flush_messages: Option<i64>,
    #[oai(nullable, validator(minimum(value = "0")))]
    pub flush_ms: Option<i64>,
    #[oai(
        nullable,
        validator(minimum(value = "0"), maximum(value = "2147483647"))
    )]
    pub index_interval_bytes: Option<i64>,
    #[oai(nullable, validator(minimum(value = "1")))]
    pub max_compaction_lag_ms: Option<i64>,
    #[oai(
        nullable,
        validator(minimum(value = "0"), maximum(value = "2147483647"))
    )]
    pub max_message_bytes: Option<i64>,
    #[oai(nullable)]
    pub message_down_conversion_enable: Option<bool>,
    /// Ignored by brokers of Kafka 3.0 and later, and by ferry: accepted,
    /// never passed on.
    #[oai(nullable)]
    pub message_format_version: Option<String>,
    #[oai(nullable, validator(minimum(value = "0")))]
    pub message_timestamp_difference_max_ms: Option<i64>,
    /// `create_time` or `log_append_time`.
    #[oai(nullable, validator(pattern = r"^(create_time|log_append_time)$"))]
    pub message_timestamp_type: Option<String>,
    #[oai(nullable, validator(minimum(value = "0"), maximum(value = "1")))]
    pub min_cleanable_dirty_ratio: Option<f64>,
    #[oai(nullable, validator(minimum(value = "0")))]
    pub min_compaction_lag_ms: Option<i64>,
    #[oai(
        nullable,
        validator(minimum(value = "1"), maximum(value = "2147483647"))
    )]
    pub min_insync_replicas: Option<i64>,
    #[oai(nullable)]
    pub preallocate: Option<bool>,
    /// `-1`: no size limit.
    #[oai(nullable, validator(minimum(value = "-1")))]
    pub retention_bytes: Option<i64>,
    /// `-1`: no time limit.
    #[oai(nullable, validator(minimum(value = "-1")))]
    pub retention_ms: Option<i64>,
    #[oai(
        nullable,
        validator(minimum(value = "14"), maximum(value = "2147483647"))
    )]
    pub segment_bytes: Option<i64>,
    #[oai(
        nullable,
        validator(minimum(value = "4"), maximum(value = "2147483647"))
    )]
    pub segment_index_bytes: Option<i64>,
    #[oai(nullable, validator(minimum(value = "0")))]
    pub segment_jitter_ms: Option<i64>,
    #[oai(nullable, validator(minimum(value = "1")))]
    pub segment_ms: Option<i64>,
}

impl TopicConfig {
    /// The keys given, as Kafka configs; the error names the key.
    pub fn to_kafka(&self) -> Result<BTreeMap<String, String>, String> {
        let Value::Object(given) = self.to_json().unwrap_or_default() else {
            return Ok(BTreeMap::new());
        };
        let mut out = BTreeMap::new();
        for (key, value) in given {
            if value.is_null() {
                continue;
            }
            let Some((_, kafka, kind)) = KEYS.iter().find(|(k, _, _)| *k == key) else {
                continue;
            };
            // Kafka 3.0 and later ignore it, and refuse it on a new topic:
            // accepted, as DigitalOcean's API takes it, and not passed on.
            if *kafka == IGNORED {
                continue;
            }
            let text = match (kind, &value) {
                (Kind::Words(words), Value::String(word)) => words
                    .iter()
                    .find(|(ours, _)| ours == word)
                    .map(|(_, theirs)| (*theirs).to_owned())
                    .ok_or_else(|| {
                        let allowed: Vec<&str> = words.iter().map(|(w, _)| *w).collect();
                        format!(
                            "config.{key}: `{word}` is not one of {}",
                            allowed.join(", ")
                        )
                    })?,
                (_, Value::String(text)) => text.clone(),
                (_, other) => other.to_string(),
            };
            out.insert((*kafka).to_owned(), text);
        }
        Ok(out)
    }

    /// The configs the broker reported, in DigitalOcean's words; a value
    /// that does not read as its type is left out.
    pub fn from_kafka(configs: &BTreeMap<String, String>) -> Self {
        let mut map = Map::new();
        for (key, kafka, kind) in KEYS {
            let Some(text) = configs.get(*kafka) else {
                continue;
            };
            let value = match kind {
                Kind::Integer => text.parse::<i64>().ok().map(Value::from),
                Kind::Bool => text.parse::<bool>().ok().map(Value::Bool),
                Kind::Ratio => text
                    .parse::<f64>()
                    .ok()
                    .and_then(Number::from_f64)
                    .map(Value::Number),
                Kind::Text => Some(Value::String(text.clone())),
                Kind::Words(words) => words
                    .iter()
                    .find(|(_, theirs)| theirs == text)
                    .map(|(ours, _)| Value::String((*ours).to_owned())),
            };
            // A value outside what the document declares for its key (a
            // broker's own default may be) is left out alone, rather than
            // failing the whole object.
            let single = |value: &Value| {
                let one = Map::from_iter([((*key).to_owned(), value.clone())]);
                Self::parse_from_json(Some(Value::Object(one))).is_ok()
            };
            if let Some(value) = value.filter(single) {
                map.insert((*key).to_owned(), value);
            }
        }
        Self::parse_from_json(Some(Value::Object(map))).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_numbers_translate_both_ways() {
        let config = TopicConfig {
            cleanup_policy: Some("compact_delete".into()),
            message_timestamp_type: Some("log_append_time".into()),
            retention_ms: Some(-1),
            min_cleanable_dirty_ratio: Some(0.25),
            preallocate: Some(true),
            ..Default::default()
        };
        let kafka = config.to_kafka().unwrap();
        assert_eq!(kafka["cleanup.policy"], "compact,delete");
        assert_eq!(kafka["message.timestamp.type"], "LogAppendTime");
        assert_eq!(kafka["retention.ms"], "-1");
        assert_eq!(kafka["min.cleanable.dirty.ratio"], "0.25");
        assert_eq!(kafka["preallocate"], "true");
        let back = TopicConfig::from_kafka(&kafka);
        assert_eq!(back.cleanup_policy.as_deref(), Some("compact_delete"));
        assert_eq!(
            back.message_timestamp_type.as_deref(),
            Some("log_append_time")
        );
        assert_eq!(back.retention_ms, Some(-1));
        assert_eq!(back.min_cleanable_dirty_ratio, Some(0.25));
    }

    #[test]
    fn an_unknown_word_names_its_key() {
        let config = TopicConfig {
            cleanup_policy: Some("shred".into()),
            ..Default::default()
        };
        let err = config.to_kafka().unwrap_err();
        assert!(err.contains("config.cleanup_policy"), "{err}");
    }

    #[test]
    fn every_key_is_a_field() {
        // A value of the right type for every key survives the trip through
        // the struct: a key missing from `TopicConfig` would be dropped.
        let kafka: BTreeMap<String, String> = KEYS
            .iter()
            .map(|(_, name, kind)| {
                let value = match kind {
                    Kind::Integer => "100".to_owned(),
                    Kind::Bool => "true".to_owned(),
                    Kind::Ratio => "0.5".to_owned(),
                    Kind::Text => "3.0-IV1".to_owned(),
                    Kind::Words(words) => words[0].1.to_owned(),
                };
                ((*name).to_owned(), value)
            })
            .collect();
        let back = TopicConfig::from_kafka(&kafka).to_kafka().unwrap();
        let mut passed_on = kafka.clone();
        passed_on.remove(IGNORED);
        assert_eq!(back, passed_on);
    }

    #[test]
    fn a_value_outside_its_declared_range_is_left_out_alone() {
        let kafka = BTreeMap::from([
            ("segment.bytes".to_owned(), "7".to_owned()),
            ("retention.ms".to_owned(), "1000".to_owned()),
        ]);
        let back = TopicConfig::from_kafka(&kafka);
        assert_eq!(back.segment_bytes, None);
        assert_eq!(back.retention_ms, Some(1000));
    }
}
