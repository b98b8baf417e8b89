//! Statistics over time: the series the API dialects answer (EasyQueue's
//! `/statistics`, the native `/api/v1/clusters/{id}/statistics`), read from
//! the samples the workers' samplers store (`ferry_worker::stats`).
//!
//! ## What is stored
//! Per topic and sample: messages held (the sum of end minus start offsets),
//! messages ever produced (the sum of end offsets), the mean record size when
//! known, each consumer group's committed-offset sum and lag, and each
//! partition replica's log size when the brokers answer DescribeLogDirs
//! (`ferry_entity::stat_sample`: each partition's leader in full and its
//! followers as deltas; rows of the earlier flat layout stay readable). Raw samples are kept a day; the last
//! sample of every 10 minutes is kept 7 days and of every hour 90 days
//! (`Tier`).
//!
//! ## How each metric is derived
//! - `MESSAGE_COUNT`: messages held, as sampled.
//! - `BYTE_IN_RATE`: Kafka reports no byte counter, so the produce rate is
//!   the delta of produced offsets between two samples, over the seconds
//!   between them, times the topic's mean record size.
//! - `BYTE_OUT_RATE`: the same with the deltas of every group's committed
//!   offsets (a consumer that does not commit is not seen).
//! - `CONSUMER_LAG`: per group, the sum over the partitions it committed on
//!   of end offset minus committed offset.
//! - `LOG_SIZE_PER_PARTITION`: each replica's size, as DescribeLogDirs
//!   reports it; no series when the brokers do not answer it (tansu).
//!
//! The mean record size is the leaders' log size over the messages held
//! when log sizes are known, else the mean size (key, value and headers) of
//! the newest records the sampler fetched; the last known size is carried
//! forward to samples without one.
//!
//! ## Windows and steps
//! A query's start must lie within the last 90 days and its window be 60 s
//! to 30 days. The step is the finest tier that still holds the whole window
//! and gives at most a day's worth of points: the sampler's interval for
//! windows of up to a day starting within the last day, 10 minutes up to 7
//! days, an hour beyond.

mod rows;

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use ferry_entity::{
    ClusterId,
    stat_sample::{self, SampleDetail, Tier},
};

use crate::{error::ServiceError, store::Store};

pub use rows::{
    SamplerState, TierRows, TopicSample, intern, prune, record_topic_samples, samplers, step_of_raw,
};

/// A metric of the statistics API, named as EasyQueue names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Metric {
    ByteInRate,
    ByteOutRate,
    MessageCount,
    ConsumerLag,
    LogSizePerPartition,
}

impl Metric {
    pub const ALL: [Metric; 5] = [
        Metric::ByteInRate,
        Metric::ByteOutRate,
        Metric::MessageCount,
        Metric::ConsumerLag,
        Metric::LogSizePerPartition,
    ];

    /// Reads the upper-case name (`BYTE_IN_RATE`, ...); `None` otherwise.
    pub fn parse(raw: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.as_str() == raw)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Metric::ByteInRate => "BYTE_IN_RATE",
            Metric::ByteOutRate => "BYTE_OUT_RATE",
            Metric::MessageCount => "MESSAGE_COUNT",
            Metric::ConsumerLag => "CONSUMER_LAG",
            Metric::LogSizePerPartition => "LOG_SIZE_PER_PARTITION",
        }
    }
}

impl std::fmt::Display for Metric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One metric of one topic over a window.
#[derive(Debug, Clone)]
pub struct SeriesQuery {
    pub cluster_id: ClusterId,
    /// The topic's full name on the broker.
    pub topic: String,
    pub metric: Metric,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Seconds between two points, chosen from the window.
    pub step_seconds: i64,
    pub data: Vec<SeriesData>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SeriesData {
    /// `topic`; with `consumergroup` for CONSUMER_LAG; with `partition` and
    /// `broker` for LOG_SIZE_PER_PARTITION.
    pub labels: BTreeMap<String, String>,
    /// `(epoch seconds, value)`, oldest first, at most one per step.
    pub values: Vec<(i64, f64)>,
}

/// The furthest back a query may start.
pub const MAX_AGE_SECONDS: i64 = 90 * 86_400;
/// The shortest and the longest window.
pub const MIN_WINDOW_SECONDS: i64 = 60;
pub const MAX_WINDOW_SECONDS: i64 = 30 * 86_400;

/// Checks the window, chooses the step and reads the series. An unknown
/// topic (never sampled) has no data.
pub async fn series(store: &Store, q: &SeriesQuery) -> Result<Series, ServiceError> {
    let now = Utc::now();
    let (tier, raw_step) = (
        choose_tier(q, now)?,
        step_of_raw(store, q.cluster_id).await?,
    );
    let step = tier.step_seconds().unwrap_or(raw_step);
    let Some(topic_id) = rows::name_id(store, q.cluster_id, &q.topic).await? else {
        return Ok(Series {
            step_seconds: step,
            data: Vec::new(),
        });
    };
    // Rates need the sample before the window's first.
    let from = q.start.timestamp() - 2 * step;
    let samples = rows::read(store, q.cluster_id, topic_id, tier, from, q.end.timestamp()).await?;
    let mut decoded = Vec::with_capacity(samples.len());
    for s in samples {
        let detail = s
            .detail()
            .map_err(|e| ServiceError::unavailable("reading statistics", e.to_string()))?;
        decoded.push((s, detail));
    }
    let group_names = if q.metric == Metric::ConsumerLag {
        let ids: Vec<i64> = decoded
            .iter()
            .flat_map(|(_, d)| d.groups.iter().map(|g| g.group_id))
            .collect();
        rows::names_of(store, &ids).await?
    } else {
        HashMap::new()
    };
    let window = (q.start.timestamp(), q.end.timestamp());
    let data = derive(q, &decoded, &group_names, step, window);
    Ok(Series {
        step_seconds: step,
        data,
    })
}

/// Refuses a window out of range (naming the field a caller sent:
/// `startDateTime` or `endDateTime`) and picks the tier that answers it.
fn choose_tier(q: &SeriesQuery, now: DateTime<Utc>) -> Result<Tier, ServiceError> {
    let age = (now - q.start).num_seconds();
    if age > MAX_AGE_SECONDS {
        return Err(ServiceError::invalid(
            "startDateTime must lie within the last 90 days",
        ));
    }
    let window = (q.end - q.start).num_seconds();
    if window < MIN_WINDOW_SECONDS {
        return Err(ServiceError::invalid(
            "endDateTime must be at least 60 seconds after startDateTime",
        ));
    }
    if window > MAX_WINDOW_SECONDS {
        return Err(ServiceError::invalid(
            "endDateTime must be at most 30 days after startDateTime",
        ));
    }
    let fits = |tier: Tier| {
        let max_window = match tier {
            Tier::Raw => 86_400,
            Tier::TenMinutes => 7 * 86_400,
            Tier::Hour => MAX_WINDOW_SECONDS,
        };
        age <= tier.retention_seconds() && window <= max_window
    };
    Ok([Tier::Raw, Tier::TenMinutes]
        .into_iter()
        .find(|t| fits(*t))
        .unwrap_or(Tier::Hour))
}

/// A series' labels, in the order they sort by.
type Labels = Vec<(String, String)>;

/// The metric's series from the samples, oldest first.
fn derive(
    q: &SeriesQuery,
    samples: &[(stat_sample::Model, SampleDetail)],
    group_names: &HashMap<i64, String>,
    step: i64,
    (start, end): (i64, i64),
) -> Vec<SeriesData> {
    let mut series: BTreeMap<Labels, Vec<(i64, f64)>> = BTreeMap::new();
    let topic = || ("topic".to_owned(), q.topic.clone());
    let mut push = |labels: Labels, ts: i64, value: f64| {
        if ts < start || ts > end {
            return;
        }
        let at = ts - ts.rem_euclid(step);
        let points = series.entry(labels).or_default();
        // The last sample of a step stands for it.
        match points.last_mut() {
            Some(last) if last.0 == at => last.1 = value,
            _ => points.push((at, value)),
        }
    };
    let mut record_bytes: Option<f64> = None;
    let mut previous: Option<&(stat_sample::Model, SampleDetail)> = None;
    for pair in samples {
        let (s, detail) = pair;
        record_bytes = s.record_bytes.or(record_bytes);
        match q.metric {
            Metric::MessageCount => push(vec![topic()], s.ts, s.messages as f64),
            Metric::ConsumerLag => {
                for g in &detail.groups {
                    let name = group_names
                        .get(&g.group_id)
                        .cloned()
                        .unwrap_or_else(|| g.group_id.to_string());
                    push(
                        vec![topic(), ("consumergroup".to_owned(), name)],
                        s.ts,
                        g.lag as f64,
                    );
                }
            }
            Metric::LogSizePerPartition => {
                for l in &detail.log_sizes {
                    push(
                        vec![
                            ("broker".to_owned(), l.broker.to_string()),
                            ("partition".to_owned(), l.partition.to_string()),
                            topic(),
                        ],
                        s.ts,
                        l.bytes as f64,
                    );
                }
            }
            Metric::ByteInRate | Metric::ByteOutRate => {
                if let (Some((p, p_detail)), Some(size)) = (previous, record_bytes) {
                    let seconds = (s.ts - p.ts) as f64;
                    let delta = match q.metric {
                        Metric::ByteInRate => (s.produced - p.produced).max(0),
                        _ => consumed(p_detail, detail),
                    };
                    if seconds > 0.0 {
                        push(vec![topic()], s.ts, delta as f64 / seconds * size);
                    }
                }
            }
        }
        previous = Some(pair);
    }
    series
        .into_iter()
        .map(|(labels, values)| SeriesData {
            labels: labels.into_iter().collect(),
            values,
        })
        .collect()
}

/// Offsets committed between two samples, over the groups in both.
fn consumed(before: &SampleDetail, after: &SampleDetail) -> i64 {
    let earlier: HashMap<i64, i64> = before
        .groups
        .iter()
        .map(|g| (g.group_id, g.committed))
        .collect();
    after
        .groups
        .iter()
        .filter_map(|g| earlier.get(&g.group_id).map(|c| (g.committed - c).max(0)))
        .sum()
}

#[cfg(test)]
mod tests;
