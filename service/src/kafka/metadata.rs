//! Read-only views of a cluster, from one Metadata request: brokers, topics,
//! partitions and their leaders. rdkafka's metadata call blocks, so it runs on
//! the blocking pool.

use std::{collections::HashMap, sync::Arc, time::Duration};

use rdkafka::{error::KafkaError, metadata::Metadata};

use super::KafkaCluster;

/// A Metadata request that failed, with the last error a broker connection
/// reported (a refused certificate, say), which says more than the code.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct MetadataError {
    pub source: KafkaError,
    message: String,
}

#[derive(Debug, Clone)]
pub struct TopicState {
    pub name: String,
    pub partitions: usize,
    /// Replicas of the first partition: the topic's replication factor.
    pub replication_factor: usize,
    /// Partitions without a leader.
    pub leaderless: usize,
    /// An error the broker reported for this topic, if any.
    pub error: Option<String>,
}

impl TopicState {
    /// Every partition has a leader: producers can write.
    pub fn is_writable(&self) -> bool {
        self.error.is_none() && self.partitions > 0 && self.leaderless == 0
    }
}

#[derive(Debug, Clone)]
pub struct ClusterSnapshot {
    pub broker_ids: Vec<i32>,
    pub topics: Vec<TopicState>,
    /// Positions in `topics` by name: the topic creator looks up hundreds
    /// of topics in a snapshot of thousands.
    by_name: HashMap<String, usize>,
}

impl ClusterSnapshot {
    pub fn topic(&self, name: &str) -> Option<&TopicState> {
        self.by_name.get(name).map(|&i| &self.topics[i])
    }
}

fn convert(md: &Metadata) -> ClusterSnapshot {
    let topics: Vec<TopicState> = md
        .topics()
        .iter()
        .map(|t| TopicState {
            name: t.name().to_owned(),
            partitions: t.partitions().len(),
            replication_factor: t.partitions().first().map_or(0, |p| p.replicas().len()),
            leaderless: t.partitions().iter().filter(|p| p.leader() < 0).count(),
            error: t.error().map(|e| format!("{e:?}")),
        })
        .collect();
    let by_name = topics
        .iter()
        .enumerate()
        .map(|(i, t)| (t.name.clone(), i))
        .collect();
    ClusterSnapshot {
        broker_ids: md.brokers().iter().map(|b| b.id()).collect(),
        topics,
        by_name,
    }
}

/// Metadata of the whole cluster, or of one topic.
pub async fn snapshot(
    cluster: &Arc<KafkaCluster>,
    topic: Option<&str>,
    timeout: Duration,
) -> Result<ClusterSnapshot, MetadataError> {
    let client = cluster.clone();
    let topic = topic.map(str::to_owned);
    tokio::task::spawn_blocking(move || {
        client
            .admin
            .inner()
            .fetch_metadata(topic.as_deref(), timeout)
            .map(|md| convert(&md))
    })
    .await
    .unwrap_or(Err(KafkaError::Canceled))
    .map_err(|source| MetadataError {
        message: cluster.explain(&source),
        source,
    })
}

/// Number of consumer groups the cluster knows.
pub async fn consumer_group_count(
    cluster: &Arc<KafkaCluster>,
    timeout: Duration,
) -> Result<usize, KafkaError> {
    let cluster = cluster.clone();
    tokio::task::spawn_blocking(move || {
        cluster
            .admin
            .inner()
            .fetch_group_list(None, timeout)
            .map(|groups| groups.groups().len())
    })
    .await
    .unwrap_or(Err(KafkaError::Canceled))
}
