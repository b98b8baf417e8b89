//! One sample of a cluster, read from Kafka: every topic's partitions with
//! their start and end offsets, every consumer group's committed offsets,
//! and each partition replica's log size when the brokers answer
//! DescribeLogDirs. Only reads; nothing here changes the cluster.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
    time::Duration,
};

use futures::{StreamExt, future::join_all, stream};

use crate::kafka::wire::{
    WireError, WireTarget,
    log_dirs::{self, ReplicaSize},
};
use ferry_service::kafka::{
    KafkaCluster,
    admin::{self, AdminError, BrokerInfo, OffsetSpec, PartitionOffset},
};

/// Consumer groups whose offsets are read at once.
const GROUPS_IN_FLIGHT: usize = 8;

/// What one sample found, by topic name.
#[derive(Debug, Default)]
pub struct ClusterSample {
    pub topics: BTreeMap<String, TopicFigures>,
}

#[derive(Debug, Default)]
pub struct TopicFigures {
    /// `(partition, start offset, end offset)`, by partition id.
    pub partitions: Vec<(i32, i64, i64)>,
    pub leaders: HashMap<i32, i32>,
    /// By group name: (sum of committed offsets, sum of lags).
    pub groups: BTreeMap<String, (i64, i64)>,
    /// `(partition, broker, bytes)` of every replica the brokers reported,
    /// by partition, each partition's leader first.
    pub log_sizes: Vec<(i32, i32, i64)>,
}

impl TopicFigures {
    pub fn messages(&self) -> i64 {
        self.partitions.iter().map(|(_, s, e)| (e - s).max(0)).sum()
    }

    pub fn produced(&self) -> i64 {
        self.partitions.iter().map(|(_, _, e)| *e).sum()
    }

    /// The bytes held by the partitions' leaders, when every leader
    /// reported its size.
    pub fn leader_bytes(&self) -> Option<i64> {
        let mut total = 0;
        for (partition, _, _) in &self.partitions {
            let leader = self.leaders.get(partition)?;
            total += self
                .log_sizes
                .iter()
                .find(|(p, b, _)| p == partition && b == leader)?
                .2;
        }
        Some(total)
    }
}

/// Whether to ask the brokers for log sizes: a cluster whose broker said it
/// does not support DescribeLogDirs is not asked again by this sampler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogDirs {
    Ask,
    Unsupported,
}

/// Reads one sample. Internal topics (`__consumer_offsets`) are left out.
///
/// After Metadata, the reads do not depend on one another, so they run at
/// once: the earliest and the latest offsets, every consumer group's
/// committed offsets and every broker's DescribeLogDirs. A sample then
/// takes about as long as its slowest read rather than the sum of them.
pub async fn sample(
    cluster: &Arc<KafkaCluster>,
    wire: Option<&WireTarget>,
    log_dirs: &mut LogDirs,
    timeout: Duration,
) -> Result<ClusterSample, AdminError> {
    let described = admin::describe_cluster(cluster, timeout).await?;
    let mut out = ClusterSample::default();
    let mut partitions = Vec::new();
    for t in described
        .topics
        .iter()
        .filter(|t| t.error.is_none() && !t.is_internal())
    {
        let figures = out.topics.entry(t.name.clone()).or_default();
        for p in &t.partitions {
            partitions.push((t.name.clone(), p.id));
            if let Some(leader) = p.leader {
                figures.leaders.insert(p.id, leader);
            }
        }
    }
    let sizes_from = wire.filter(|_| *log_dirs == LogDirs::Ask);
    let (starts, ends, committed, sizes) = tokio::join!(
        admin::offsets(cluster, partitions.clone(), OffsetSpec::Earliest, timeout),
        admin::offsets(cluster, partitions.clone(), OffsetSpec::Latest, timeout),
        committed_offsets(cluster, timeout),
        replica_sizes(sizes_from, &described.brokers, timeout),
    );
    let (starts, ends, committed) = (starts?, ends?, committed?);
    for (topic, partition) in &partitions {
        let key = (topic.clone(), *partition);
        // A partition whose offsets could not be read (no leader just now)
        // is left out of this sample rather than counted as empty.
        let (Some(start), Some(end)) = (
            starts.get(&key).and_then(|o| o.offset),
            ends.get(&key).and_then(|o| o.offset),
        ) else {
            continue;
        };
        if let Some(f) = out.topics.get_mut(topic) {
            f.partitions.push((*partition, start, end));
        }
    }
    for f in out.topics.values_mut() {
        f.partitions.sort_unstable();
    }
    for (group, offsets) in committed {
        for o in offsets {
            let (Some(offset), Some(f)) = (o.offset, out.topics.get_mut(&o.topic)) else {
                continue;
            };
            let end = ends
                .get(&(o.topic.clone(), o.partition))
                .and_then(|e| e.offset)
                .unwrap_or(offset);
            let entry = f.groups.entry(group.clone()).or_default();
            entry.0 += offset;
            entry.1 += (end - offset).max(0);
        }
    }
    for (broker, sizes) in sizes {
        match sizes {
            Ok(sizes) => {
                for s in sizes {
                    if let Some(f) = out.topics.get_mut(&s.topic) {
                        f.log_sizes.push((s.partition, broker, s.bytes));
                    }
                }
            }
            Err(WireError::Unsupported { .. }) => {
                tracing::info!(
                    broker,
                    "the broker does not answer DescribeLogDirs; no log sizes for this cluster"
                );
                *log_dirs = LogDirs::Unsupported;
            }
            Err(err) => {
                tracing::warn!(broker, error = %err, "DescribeLogDirs failed; this sample has no log sizes from the broker");
            }
        }
    }
    for f in out.topics.values_mut() {
        // Each partition's replicas together, its leader first: the order
        // in which followers are stored as small deltas from their leader.
        let TopicFigures {
            leaders, log_sizes, ..
        } = f;
        log_sizes.sort_unstable_by_key(|(p, b, _)| (*p, leaders.get(p) != Some(b), *b));
    }
    Ok(out)
}

/// Every consumer group's committed offsets, by group. A group whose
/// coordinator did not answer is missing from the sample; the others still
/// count.
async fn committed_offsets(
    cluster: &Arc<KafkaCluster>,
    timeout: Duration,
) -> Result<Vec<(String, Vec<PartitionOffset>)>, AdminError> {
    let groups = admin::list_groups(cluster, None, timeout).await?;
    let committed: Vec<_> = stream::iter(groups.into_iter().filter(|g| g.is_consumer_group()).map(
        |g| async move {
            let offsets = admin::committed_offsets(cluster, g.group_id.clone(), timeout).await;
            offsets.ok().map(|o| (g.group_id, o))
        },
    ))
    .buffer_unordered(GROUPS_IN_FLIGHT)
    .collect()
    .await;
    Ok(committed.into_iter().flatten().collect())
}

/// Each broker's replica sizes, asked of every broker at once; nothing when
/// `wire` is `None` (the cluster does not answer DescribeLogDirs).
async fn replica_sizes(
    wire: Option<&WireTarget>,
    brokers: &[BrokerInfo],
    timeout: Duration,
) -> Vec<(i32, Result<Vec<ReplicaSize>, WireError>)> {
    let Some(wire) = wire else {
        return Vec::new();
    };
    join_all(brokers.iter().map(|broker| async move {
        let address = format!("{}:{}", broker.host, broker.port);
        (
            broker.id,
            log_dirs::replica_sizes(wire, &address, timeout).await,
        )
    }))
    .await
}
