//! Kafka topic-level configs that ferry accepts, with the type of value each
//! takes, so that a typo or a bad value is refused when the task is submitted
//! rather than failing later at the broker. Names and types follow Apache
//! Kafka's topic configuration reference.

use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy)]
pub(super) enum Kind {
    /// A long at or above the minimum (`-1` allowed where Kafka means "no limit").
    Long(i64),
    Int(i64),
    Bool,
    Ratio,
    /// A number (not only an integer) at or above zero.
    Number,
    OneOf(&'static [&'static str]),
    /// A comma-separated subset of the listed values.
    ListOf(&'static [&'static str]),
    Text,
}

const CONFIGS: &[(&str, Kind)] = &[
    ("cleanup.policy", Kind::ListOf(&["delete", "compact"])),
    (
        "compression.type",
        Kind::OneOf(&["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"]),
    ),
    ("delete.retention.ms", Kind::Long(0)),
    ("file.delete.delay.ms", Kind::Long(0)),
    ("flush.messages", Kind::Long(1)),
    ("flush.ms", Kind::Long(0)),
    ("index.interval.bytes", Kind::Int(0)),
    ("max.compaction.lag.ms", Kind::Long(1)),
    ("max.message.bytes", Kind::Int(0)),
    ("message.downconversion.enable", Kind::Bool),
    ("message.timestamp.difference.max.ms", Kind::Long(0)),
    (
        "message.timestamp.type",
        Kind::OneOf(&["CreateTime", "LogAppendTime"]),
    ),
    ("min.cleanable.dirty.ratio", Kind::Ratio),
    ("min.compaction.lag.ms", Kind::Long(0)),
    ("min.insync.replicas", Kind::Int(1)),
    ("preallocate", Kind::Bool),
    ("retention.bytes", Kind::Long(-1)),
    ("retention.ms", Kind::Long(-1)),
    ("segment.bytes", Kind::Int(14)),
    ("segment.index.bytes", Kind::Int(4)),
    ("segment.jitter.ms", Kind::Long(0)),
    ("segment.ms", Kind::Long(1)),
    ("unclean.leader.election.enable", Kind::Bool),
    ("local.retention.bytes", Kind::Long(-2)),
    ("local.retention.ms", Kind::Long(-2)),
    ("remote.storage.enable", Kind::Bool),
    ("follower.replication.throttled.replicas", Kind::Text),
    ("leader.replication.throttled.replicas", Kind::Text),
];

/// Checks every name and value; the error names the first bad entry.
pub fn validate(configs: &BTreeMap<String, String>) -> Result<(), String> {
    for (name, value) in configs {
        let Some((_, kind)) = CONFIGS.iter().find(|(n, _)| n == name) else {
            return Err(format!("unknown topic config `{name}`"));
        };
        check(name, value, *kind)?;
    }
    Ok(())
}

pub(super) fn check(name: &str, value: &str, kind: Kind) -> Result<(), String> {
    let bad = |expected: String| Err(format!("config `{name}`: `{value}` is not {expected}"));
    match kind {
        Kind::Long(min) | Kind::Int(min) => {
            let max = if matches!(kind, Kind::Int(_)) {
                i64::from(i32::MAX)
            } else {
                i64::MAX
            };
            match value.trim().parse::<i64>() {
                Ok(v) if v >= min && v <= max => Ok(()),
                _ => bad(format!("an integer between {min} and {max}")),
            }
        }
        Kind::Bool => match value {
            "true" | "false" => Ok(()),
            _ => bad("true or false".into()),
        },
        Kind::Ratio => match value.parse::<f64>() {
            Ok(v) if (0.0..=1.0).contains(&v) => Ok(()),
            _ => bad("a number between 0 and 1".into()),
        },
        Kind::Number => match value.trim().parse::<f64>() {
            Ok(v) if v >= 0.0 && v.is_finite() => Ok(()),
            _ => bad("a number of at least 0".into()),
        },
        Kind::OneOf(allowed) => {
            if allowed.contains(&value) {
                Ok(())
            } else {
                bad(format!("one of {}", allowed.join(", ")))
            }
        }
        Kind::ListOf(allowed) => {
            let all_known = value
                .split(',')
                .map(str::trim)
                .all(|v| allowed.contains(&v));
            if all_known && !value.trim().is_empty() {
                Ok(())
            } else {
                bad(format!("a comma-separated list of {}", allowed.join(", ")))
            }
        }
        Kind::Text => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(name: &str, value: &str) -> Result<(), String> {
        validate(&BTreeMap::from([(name.to_owned(), value.to_owned())]))
    }

    #[test]
    fn accepts_known_values() {
        assert!(one("cleanup.policy", "compact,delete").is_ok());
        assert!(one("retention.ms", "-1").is_ok());
        assert!(one("min.insync.replicas", "2").is_ok());
    }

    #[test]
    fn refuses_typos_and_bad_values() {
        assert!(
            one("retention.msx", "1")
                .unwrap_err()
                .contains("unknown topic config")
        );
        assert!(
            one("retention.ms", "soon")
                .unwrap_err()
                .contains("retention.ms")
        );
        assert!(one("cleanup.policy", "forever").is_err());
        assert!(one("min.insync.replicas", "0").is_err());
    }
}
