//! A topic as a person managing it wants to see it at once: its partitions
//! with replicas, in-sync replicas, offsets and the consumer groups that
//! committed on them, chosen configs, ferry's note, and a health that says
//! whether a change is under way or something is wrong. The EasyQueue and
//! DigitalOcean dialects render it in their own words.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use ferry_entity::{ClusterId, TaskKind, TaskStatus, task, topic_note};
use futures::{StreamExt, stream};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use super::notes;
use crate::{
    error::ServiceError,
    kafka::{
        KafkaCluster,
        admin::{
            self, ConfigResource, TopicInfo,
            usage::{self, PartitionRange},
        },
    },
    store::Store,
};

/// How many topics' configs are described at once.
const CONFIG_CONCURRENCY: usize = 8;

/// Whether the topic is usable, changing, or in trouble, most pressing
/// first when several hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// A `topic.delete` task is in progress.
    Deleting,
    /// A partition has no leader, or the broker reports an error for it.
    Broken,
    /// The last change ferry made to it failed.
    LastChangeFailed,
    /// A create, config or partition task is in progress.
    Changing,
    /// A partition has fewer in-sync replicas than replicas.
    UnderReplicated,
    Active,
}

#[derive(Debug, Clone)]
pub struct PartitionUsage {
    pub id: i32,
    pub leader: Option<i32>,
    pub replicas: usize,
    pub in_sync: usize,
    pub range: PartitionRange,
    /// `(group, committed offset)`, by group name.
    pub groups: Vec<(String, i64)>,
}

#[derive(Debug, Clone)]
pub struct TopicOverview {
    pub name: String,
    pub replication_factor: usize,
    pub partitions: Vec<PartitionUsage>,
    /// The configs asked for that the broker reported, by Kafka name.
    pub configs: BTreeMap<String, String>,
    pub note: Option<topic_note::Model>,
    pub health: Health,
}

impl TopicOverview {
    /// Records kept in all partitions now.
    pub fn message_count(&self) -> i64 {
        self.partitions
            .iter()
            .map(|p| p.range.message_count())
            .sum()
    }

    /// Consumer groups that committed an offset on any partition.
    pub fn group_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .partitions
            .iter()
            .flat_map(|p| p.groups.iter().map(|(g, _)| g.clone()))
            .collect();
        names.sort();
        names.dedup();
        names
    }
}

/// What to read beyond the metadata: each extra is more calls to the broker.
#[derive(Debug, Clone, Copy, Default)]
pub struct Extras<'a> {
    /// Offsets of every partition (two ListOffsets rounds).
    pub offsets: bool,
    /// Consumer groups' committed offsets (one call per group).
    pub groups: bool,
    /// These configs of each topic (one DescribeConfigs per topic).
    pub configs: &'a [&'a str],
}

/// The overview of each of `topics` (already read from the cluster's
/// metadata), in the same order.
pub async fn overview(
    store: &Store,
    cluster: &Arc<KafkaCluster>,
    cluster_id: ClusterId,
    topics: Vec<TopicInfo>,
    extras: Extras<'_>,
    timeout: Duration,
) -> Result<Vec<TopicOverview>, ServiceError> {
    let kafka =
        |doing: &'static str| move |err: admin::AdminError| ServiceError::unavailable(doing, err);
    let refs: Vec<&TopicInfo> = topics.iter().collect();
    let ranges = if extras.offsets {
        usage::partition_ranges(cluster, &refs, timeout)
            .await
            .map_err(kafka("reading the topics' offsets"))?
    } else {
        Default::default()
    };
    let committed = if extras.groups {
        usage::committed_by_topic(cluster, timeout)
            .await
            .map_err(kafka("reading the consumer groups' offsets"))?
            .1
    } else {
        Default::default()
    };
    let configs = describe_configs(cluster, &topics, extras.configs, timeout).await?;
    let mut notes = notes::of_cluster(store, cluster_id).await?;
    let names: Vec<String> = topics.iter().map(|t| t.name.clone()).collect();
    let tasks = recent_tasks(store, cluster_id, &names).await?;
    Ok(topics
        .into_iter()
        .zip(configs)
        .map(|(topic, configs)| {
            let partitions = topic
                .partitions
                .iter()
                .map(|p| PartitionUsage {
                    id: p.id,
                    leader: p.leader,
                    replicas: p.replicas.len(),
                    in_sync: p.isr.len(),
                    range: ranges
                        .get(&(topic.name.clone(), p.id))
                        .copied()
                        .unwrap_or_default(),
                    groups: committed
                        .get(&topic.name)
                        .map(|offsets| {
                            offsets
                                .iter()
                                .filter(|c| c.partition == p.id)
                                .map(|c| (c.group.clone(), c.offset))
                                .collect()
                        })
                        .unwrap_or_default(),
                })
                .collect::<Vec<_>>();
            let health = health(&topic, tasks.get(&topic.name).map(Vec::as_slice));
            TopicOverview {
                replication_factor: topic.replication_factor(),
                note: notes.remove(&topic.name),
                name: topic.name,
                partitions,
                configs,
                health,
            }
        })
        .collect())
}

fn health(topic: &TopicInfo, tasks: Option<&[task::Model]>) -> Health {
    let tasks = tasks.unwrap_or_default();
    let running = |kinds: &[TaskKind]| {
        tasks.iter().any(|t| {
            kinds.contains(&t.kind) && matches!(t.status, TaskStatus::Pending | TaskStatus::Running)
        })
    };
    if running(&[TaskKind::TopicDelete]) {
        return Health::Deleting;
    }
    if topic.error.is_some()
        || topic
            .partitions
            .iter()
            .any(|p| p.leader.is_none() || p.error.is_some())
    {
        return Health::Broken;
    }
    // Tasks come newest first: the latest finished one tells whether the
    // last change went through.
    if tasks
        .iter()
        .find(|t| !matches!(t.status, TaskStatus::Pending | TaskStatus::Running))
        .is_some_and(|t| t.status == TaskStatus::Failed)
    {
        return Health::LastChangeFailed;
    }
    if running(&[
        TaskKind::TopicCreate,
        TaskKind::TopicConfigAlter,
        TaskKind::TopicPartitions,
    ]) {
        return Health::Changing;
    }
    if topic
        .partitions
        .iter()
        .any(|p| !p.replicas.is_empty() && p.isr.len() < p.replicas.len())
    {
        return Health::UnderReplicated;
    }
    Health::Active
}

/// The topic tasks on these topics, newest first per topic: those in
/// progress and the last finished one.
async fn recent_tasks(
    store: &Store,
    cluster_id: ClusterId,
    names: &[String],
) -> Result<BTreeMap<String, Vec<task::Model>>, ServiceError> {
    let mut by_topic: BTreeMap<String, Vec<task::Model>> = BTreeMap::new();
    // Chunks keep the IN list within every database's parameter limit.
    for chunk in names.chunks(500) {
        let rows = task::Entity::find()
            .filter(task::Column::ClusterId.eq(cluster_id))
            .filter(task::Column::Kind.is_in([
                TaskKind::TopicCreate,
                TaskKind::TopicDelete,
                TaskKind::TopicConfigAlter,
                TaskKind::TopicPartitions,
            ]))
            .filter(task::Column::Subject.is_in(chunk.iter().cloned()))
            .order_by_desc(task::Column::CreatedAt)
            .all(&store.db)
            .await?;
        for row in rows {
            let Some(subject) = row.subject.clone() else {
                continue;
            };
            let list = by_topic.entry(subject).or_default();
            let finished_kept = list
                .iter()
                .any(|t| !matches!(t.status, TaskStatus::Pending | TaskStatus::Running));
            let in_progress = matches!(row.status, TaskStatus::Pending | TaskStatus::Running);
            if in_progress || !finished_kept {
                list.push(row);
            }
        }
    }
    Ok(by_topic)
}

/// The configs named in `wanted` of each topic, in the topics' order; none
/// are read when `wanted` is empty.
async fn describe_configs(
    cluster: &Arc<KafkaCluster>,
    topics: &[TopicInfo],
    wanted: &[&str],
    timeout: Duration,
) -> Result<Vec<BTreeMap<String, String>>, ServiceError> {
    if wanted.is_empty() {
        return Ok(vec![BTreeMap::new(); topics.len()]);
    }
    // Owned captures keep the stream's future `Send` for the handlers.
    let wanted: Arc<Vec<String>> = Arc::new(wanted.iter().map(|w| (*w).to_owned()).collect());
    let shared = cluster.clone();
    let names: Vec<String> = topics.iter().map(|t| t.name.clone()).collect();
    let found: Vec<Result<BTreeMap<String, String>, admin::AdminError>> = stream::iter(names)
        .map(move |name| {
            let cluster = shared.clone();
            let wanted = wanted.clone();
            async move {
                let entries =
                    admin::describe_configs(&cluster, ConfigResource::Topic(name), timeout).await?;
                Ok(entries
                    .into_iter()
                    .filter(|e| wanted.contains(&e.name))
                    .filter_map(|e| e.value.map(|v| (e.name, v)))
                    .collect())
            }
        })
        .buffered(CONFIG_CONCURRENCY)
        .collect()
        .await;
    found
        .into_iter()
        .map(|r| r.map_err(|e| ServiceError::unavailable("reading the topics' configs", e)))
        .collect()
}
