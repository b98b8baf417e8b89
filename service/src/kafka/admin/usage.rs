//! How topics are used, as the EasyQueue and DigitalOcean dialects show it:
//! each partition's first and next offsets (so its message count) and which
//! consumer groups committed offsets on it. Both are a few admin calls for
//! the whole cluster, whatever the number of topics asked about.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
    time::Duration,
};

use futures::{StreamExt, stream};

use super::{
    AdminError, GroupInfo, OffsetSpec, TopicInfo, blocking, ffi_groups, list_groups, offsets,
};
use crate::kafka::KafkaCluster;

/// How many groups' committed offsets are asked for at once.
const GROUP_CONCURRENCY: usize = 8;

/// One partition's offsets: `start` is the first offset still kept, `end`
/// the offset the next record will get. `None` where the broker did not say.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PartitionRange {
    pub start: Option<i64>,
    pub end: Option<i64>,
}

impl PartitionRange {
    /// Records kept in the partition now (0 when an offset is unknown).
    pub fn message_count(&self) -> i64 {
        match (self.start, self.end) {
            (Some(start), Some(end)) => (end - start).max(0),
            _ => 0,
        }
    }
}

/// A group's committed offset on one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    pub group: String,
    pub partition: i32,
    pub offset: i64,
}

/// The offset ranges of every partition of `topics`, keyed by (topic,
/// partition): two ListOffsets rounds for all of them.
pub async fn partition_ranges(
    cluster: &Arc<KafkaCluster>,
    topics: &[&TopicInfo],
    timeout: Duration,
) -> Result<HashMap<(String, i32), PartitionRange>, AdminError> {
    let wanted: Vec<(String, i32)> = topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| (t.name.clone(), p.id)))
        .collect();
    if wanted.is_empty() {
        return Ok(HashMap::new());
    }
    let (earliest, latest) = tokio::try_join!(
        offsets(cluster, wanted.clone(), OffsetSpec::Earliest, timeout),
        offsets(cluster, wanted.clone(), OffsetSpec::Latest, timeout),
    )?;
    Ok(wanted
        .into_iter()
        .map(|key| {
            let range = PartitionRange {
                start: earliest.get(&key).and_then(|p| p.offset),
                end: latest.get(&key).and_then(|p| p.offset),
            };
            (key, range)
        })
        .collect())
}

/// The consumer groups of the cluster with what each committed, grouped by
/// topic: `topic -> [(group, partition, offset)]`, groups sorted by name.
/// A group whose offsets cannot be read is left out rather than failing the
/// answer.
pub async fn committed_by_topic(
    cluster: &Arc<KafkaCluster>,
    timeout: Duration,
) -> Result<(Vec<GroupInfo>, BTreeMap<String, Vec<CommittedOffset>>), AdminError> {
    let groups: Vec<GroupInfo> = list_groups(cluster, None, timeout)
        .await?
        .into_iter()
        .filter(GroupInfo::is_consumer_group)
        .collect();
    // Everything the futures use is owned: borrowed captures would make the
    // stream's future non-`Send` for the handlers that await it.
    let shared = cluster.clone();
    let committed: Vec<(String, Result<Vec<super::PartitionOffset>, AdminError>)> = stream::iter(
        groups
            .iter()
            .map(|g| g.group_id.clone())
            .collect::<Vec<_>>(),
    )
    .map(move |group| {
        let cluster = shared.clone();
        async move {
            let id = group.clone();
            let found = blocking(timeout, move || {
                ffi_groups::committed_offsets(cluster.admin.inner().native_ptr(), &id, timeout)
            })
            .await;
            (group, found)
        }
    })
    .buffer_unordered(GROUP_CONCURRENCY)
    .collect()
    .await;
    let mut by_topic: BTreeMap<String, Vec<CommittedOffset>> = BTreeMap::new();
    for (group, found) in committed {
        let Ok(found) = found else {
            tracing::debug!(%group, "committed offsets unreadable; group left out");
            continue;
        };
        for p in found {
            if let Some(offset) = p.offset {
                by_topic.entry(p.topic).or_default().push(CommittedOffset {
                    group: group.clone(),
                    partition: p.partition,
                    offset,
                });
            }
        }
    }
    for offsets in by_topic.values_mut() {
        offsets.sort_by(|a, b| (&a.group, a.partition).cmp(&(&b.group, b.partition)));
    }
    Ok((groups, by_topic))
}
