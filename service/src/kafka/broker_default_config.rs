//! The broker configs Kafka lets an operator change for the whole cluster at
//! once (dynamic update mode "cluster-wide" in Apache Kafka's broker
//! configuration reference), with the value each takes. A cluster-wide
//! change is checked here before its task is queued, because the broker
//! itself cannot be asked: the default broker resource is described only
//! through a broker's config synonyms, and brokers without dynamic configs
//! (tansu, say) describe none. Per-broker-only configs (listeners, keystores)
//! are not listed: Kafka refuses them at cluster level.

use super::topic_config::{Kind, check};

const COMPRESSION: &[&str] = &["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"];

const CONFIGS: &[(&str, Kind)] = &[
    ("background.threads", Kind::Int(1)),
    ("compression.type", Kind::OneOf(COMPRESSION)),
    ("compression.gzip.level", Kind::Int(-1)),
    ("compression.lz4.level", Kind::Int(1)),
    ("compression.zstd.level", Kind::Int(-131072)),
    ("follower.replication.throttled.rate", Kind::Long(1)),
    ("leader.replication.throttled.rate", Kind::Long(1)),
    ("log.cleaner.backoff.ms", Kind::Long(0)),
    ("log.cleaner.dedupe.buffer.size", Kind::Long(0)),
    ("log.cleaner.delete.retention.ms", Kind::Long(0)),
    ("log.cleaner.io.buffer.load.factor", Kind::Number),
    ("log.cleaner.io.buffer.size", Kind::Int(0)),
    ("log.cleaner.io.max.bytes.per.second", Kind::Number),
    ("log.cleaner.max.compaction.lag.ms", Kind::Long(1)),
    ("log.cleaner.min.cleanable.ratio", Kind::Ratio),
    ("log.cleaner.min.compaction.lag.ms", Kind::Long(0)),
    ("log.cleaner.threads", Kind::Int(0)),
    ("log.cleanup.policy", Kind::ListOf(&["delete", "compact"])),
    ("log.flush.interval.messages", Kind::Long(1)),
    ("log.flush.interval.ms", Kind::Long(0)),
    ("log.index.interval.bytes", Kind::Int(0)),
    ("log.index.size.max.bytes", Kind::Int(4)),
    ("log.local.retention.bytes", Kind::Long(-2)),
    ("log.local.retention.ms", Kind::Long(-2)),
    ("log.message.timestamp.after.max.ms", Kind::Long(0)),
    ("log.message.timestamp.before.max.ms", Kind::Long(0)),
    (
        "log.message.timestamp.type",
        Kind::OneOf(&["CreateTime", "LogAppendTime"]),
    ),
    ("log.preallocate", Kind::Bool),
    ("log.retention.bytes", Kind::Long(-1)),
    ("log.retention.ms", Kind::Long(-1)),
    ("log.roll.jitter.ms", Kind::Long(0)),
    ("log.roll.ms", Kind::Long(1)),
    ("log.segment.bytes", Kind::Int(14)),
    ("log.segment.delete.delay.ms", Kind::Long(0)),
    ("max.connection.creation.rate", Kind::Int(0)),
    ("max.connections", Kind::Int(0)),
    ("max.connections.per.ip", Kind::Int(0)),
    ("max.connections.per.ip.overrides", Kind::Text),
    ("message.max.bytes", Kind::Int(0)),
    ("metric.reporters", Kind::Text),
    ("min.insync.replicas", Kind::Int(1)),
    ("num.io.threads", Kind::Int(1)),
    ("num.network.threads", Kind::Int(1)),
    ("num.recovery.threads.per.data.dir", Kind::Int(1)),
    ("num.replica.alter.log.dirs.threads", Kind::Int(1)),
    ("num.replica.fetchers", Kind::Int(1)),
    ("producer.id.expiration.ms", Kind::Int(1)),
    (
        "replica.alter.log.dirs.io.max.bytes.per.second",
        Kind::Long(1),
    ),
    ("transaction.partition.verification.enable", Kind::Bool),
    ("unclean.leader.election.enable", Kind::Bool),
];

/// Checks one change: the name must be a cluster-wide config; a value, when
/// set (a reset has none), must be of its type.
pub fn validate(name: &str, value: Option<&str>) -> Result<(), String> {
    let Some((_, kind)) = CONFIGS.iter().find(|(n, _)| *n == name) else {
        return Err(format!(
            "`{name}` is not a broker config Kafka can change cluster-wide"
        ));
    };
    match value {
        Some(value) => check(name, value, *kind),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::validate;

    #[test]
    fn accepts_cluster_wide_configs_with_good_values() {
        assert!(validate("log.retention.ms", Some("604800000")).is_ok());
        assert!(validate("log.cleaner.io.max.bytes.per.second", Some("1.5e7")).is_ok());
        assert!(validate("log.cleanup.policy", Some("compact,delete")).is_ok());
        assert!(validate("min.insync.replicas", None).is_ok());
    }

    #[test]
    fn refuses_other_names_and_bad_values() {
        // Read-only at runtime, or settable per broker only.
        assert!(validate("log.retention.hours", Some("1")).is_err());
        assert!(validate("listeners", Some("PLAINTEXT://:9092")).is_err());
        assert!(validate("broker.id", None).is_err());
        let err = validate("message.max.bytes", Some("big")).unwrap_err();
        assert!(err.contains("message.max.bytes"), "{err}");
        assert!(validate("num.io.threads", Some("0")).is_err());
    }
}
