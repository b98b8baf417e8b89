//! Read-only views of a Kafka cluster for the Confluent v3 dialect (brokers,
//! topics with replicas and ISR, configs with synonyms, consumer groups with
//! members, assignments and lag, ACLs), plus the raw request helpers that the
//! worker's IncrementalAlterConfigs and DeleteAcls use. Every call runs on tokio's blocking pool and is bounded
//! by its timeout, whatever librdkafka does with its own.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
    time::Duration,
};

use futures::{StreamExt, stream};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

use super::{KafkaCluster, is_transient_code};
pub use ferry_entity::payload::{ConfigOp, ConfigOpKind, ConfigResource};

pub mod acls;
mod assignment;
pub mod ffi;
mod ffi_groups;
pub mod usage;

pub use assignment::decode_assignment;

/// Why a Kafka admin call did not give an answer.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The cluster or librdkafka answered with a Kafka error code.
    #[error("{message}")]
    Kafka {
        code: RDKafkaErrorCode,
        message: String,
    },
    /// No answer in time: the cluster is down or slow, or the request went to
    /// a broker that never answers it (librdkafka waits for a broker id that
    /// the cluster does not have, for instance).
    #[error("the cluster did not answer within {0:?}")]
    Timeout(Duration),
    /// The request cannot be sent as given (e.g. a NUL byte in a name).
    #[error("{0}")]
    Invalid(String),
}

impl AdminError {
    /// Whether trying again later can help.
    pub fn is_retryable(&self) -> bool {
        match self {
            // A partial answer means some broker did not answer in time.
            AdminError::Kafka { code, .. } => {
                is_transient_code(*code) || *code == RDKafkaErrorCode::Partial
            }
            AdminError::Timeout(_) => true,
            AdminError::Invalid(_) => false,
        }
    }

    /// The Kafka error code, when the cluster sent one.
    pub fn code(&self) -> Option<RDKafkaErrorCode> {
        match self {
            AdminError::Kafka { code, .. } => Some(*code),
            _ => None,
        }
    }
}

impl From<KafkaError> for AdminError {
    fn from(err: KafkaError) -> Self {
        match err.rdkafka_error_code() {
            Some(code) => AdminError::Kafka {
                code,
                message: err.to_string(),
            },
            None => AdminError::Invalid(err.to_string()),
        }
    }
}

/// One config as the broker describes it. Sensitive values are never kept.
#[derive(Debug, Clone)]
pub struct ConfigEntry {
    pub name: String,
    pub value: Option<String>,
    /// Kafka's source name, e.g. `DYNAMIC_TOPIC_CONFIG`, `DEFAULT_CONFIG`.
    pub source: String,
    pub is_default: bool,
    pub is_read_only: bool,
    pub is_sensitive: bool,
    /// Where the value could come from, most specific first.
    pub synonyms: Vec<ConfigSynonym>,
}

#[derive(Debug, Clone)]
pub struct ConfigSynonym {
    pub name: String,
    pub value: Option<String>,
    pub source: String,
}

#[derive(Debug, Clone)]
pub struct BrokerInfo {
    pub id: i32,
    pub host: String,
    pub port: i32,
}

#[derive(Debug, Clone)]
pub struct PartitionInfo {
    pub id: i32,
    /// `None` while the partition has no leader.
    pub leader: Option<i32>,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub error: Option<String>,
}

#[derive(Debug, Clone)]
pub struct TopicInfo {
    pub name: String,
    pub partitions: Vec<PartitionInfo>,
    pub error: Option<String>,
}

impl TopicInfo {
    /// The replica count of the first partition: the topic's replication
    /// factor (0 when the broker reports no replica list, as tansu may).
    pub fn replication_factor(&self) -> usize {
        self.partitions.first().map_or(0, |p| p.replicas.len())
    }

    /// Kafka's internal topics (`__consumer_offsets`, `__transaction_state`).
    pub fn is_internal(&self) -> bool {
        self.name.starts_with("__")
    }

    pub fn partition(&self, id: i32) -> Option<&PartitionInfo> {
        self.partitions.iter().find(|p| p.id == id)
    }
}

/// Brokers, controller and topics from one Metadata request.
#[derive(Debug, Clone)]
pub struct ClusterDescription {
    pub brokers: Vec<BrokerInfo>,
    pub controller: Option<i32>,
    pub topics: Vec<TopicInfo>,
}

impl ClusterDescription {
    pub fn topic(&self, name: &str) -> Option<&TopicInfo> {
        self.topics
            .iter()
            .find(|t| t.name == name && t.error.is_none())
    }

    pub fn broker(&self, id: i32) -> Option<&BrokerInfo> {
        self.brokers.iter().find(|b| b.id == id)
    }
}

/// A consumer group as DescribeGroups reports it.
#[derive(Debug, Clone)]
pub struct GroupInfo {
    pub group_id: String,
    /// Kafka's state name: `Stable`, `Empty`, `PreparingRebalance`, ...
    pub state: String,
    /// `consumer` for groups of Kafka consumers, empty for simple groups.
    pub protocol_type: String,
    /// The partition assignor, e.g. `range`.
    pub protocol: String,
    pub coordinator: Option<i32>,
    pub error: Option<String>,
    pub members: Vec<GroupMember>,
}

impl GroupInfo {
    /// Whether this is a group of Kafka consumers (or a simple group that
    /// only commits offsets), rather than e.g. Kafka Connect workers.
    pub fn is_consumer_group(&self) -> bool {
        self.protocol_type.is_empty() || self.protocol_type == "consumer"
    }
}

#[derive(Debug, Clone)]
pub struct GroupMember {
    pub member_id: String,
    pub client_id: String,
    pub client_host: String,
    /// Kafka's ConsumerProtocol assignment, see [`decode_assignment`].
    pub assignment: Vec<u8>,
}

impl GroupMember {
    /// The partitions assigned to this member, `(topic, partition)`, sorted;
    /// empty when the assignment cannot be decoded.
    pub fn partitions(&self) -> Vec<(String, i32)> {
        decode_assignment(&self.assignment).unwrap_or_else(|err| {
            tracing::warn!(member = %self.member_id, error = %err, "undecodable member assignment");
            Vec::new()
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetSpec {
    Earliest,
    Latest,
}

/// An offset of one partition: committed, earliest or latest.
#[derive(Debug, Clone)]
pub struct PartitionOffset {
    pub topic: String,
    pub partition: i32,
    /// `None` when there is none (nothing committed) or on error.
    pub offset: Option<i64>,
    pub error: Option<String>,
}

/// Lag of one partition a group committed an offset for.
#[derive(Debug, Clone)]
pub struct PartitionLag {
    pub topic: String,
    pub partition: i32,
    pub current_offset: i64,
    pub end_offset: i64,
    pub lag: i64,
    /// The member the partition is assigned to now, if any.
    pub member: Option<GroupMember>,
}

/// Runs a blocking librdkafka call on the blocking pool, bounded by `timeout`
/// plus a grace second, whatever the call does with its own timeout.
pub async fn blocking<T, F>(timeout: Duration, call: F) -> Result<T, AdminError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, AdminError> + Send + 'static,
{
    match tokio::time::timeout(
        timeout + Duration::from_secs(2),
        tokio::task::spawn_blocking(call),
    )
    .await
    {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(join)) => Err(AdminError::Invalid(format!(
            "the Kafka call failed: {join}"
        ))),
        Err(_) => Err(AdminError::Timeout(timeout)),
    }
}

/// Brokers, controller, topics and partitions (leader, replicas, ISR). The
/// whole topic list is asked for: a request naming one topic can auto-create
/// it on brokers with `auto.create.topics.enable`.
pub async fn describe_cluster(
    cluster: &Arc<KafkaCluster>,
    timeout: Duration,
) -> Result<ClusterDescription, AdminError> {
    let client_of = cluster.clone();
    let described = blocking(timeout, move || {
        let client = client_of.admin.inner();
        let md = client.fetch_metadata(None, timeout)?;
        // The Metadata answer just refreshed librdkafka's cache: read the
        // controller from it without waiting, so that a cluster that does not
        // report one costs nothing.
        let controller = ffi_groups::controller_id(client.native_ptr(), Duration::ZERO);
        let mut topics: Vec<TopicInfo> = md
            .topics()
            .iter()
            .map(|t| TopicInfo {
                name: t.name().to_owned(),
                error: t.error().map(|e| RDKafkaErrorCode::from(e).to_string()),
                partitions: t
                    .partitions()
                    .iter()
                    .map(|p| PartitionInfo {
                        id: p.id(),
                        leader: (p.leader() >= 0).then_some(p.leader()),
                        replicas: p.replicas().to_vec(),
                        isr: p.isr().to_vec(),
                        error: p.error().map(|e| RDKafkaErrorCode::from(e).to_string()),
                    })
                    .collect(),
            })
            .collect();
        topics.sort_by(|a, b| a.name.cmp(&b.name));
        for t in &mut topics {
            t.partitions.sort_by_key(|p| p.id);
        }
        let mut brokers: Vec<BrokerInfo> = md
            .brokers()
            .iter()
            .map(|b| BrokerInfo {
                id: b.id(),
                host: b.host().to_owned(),
                port: b.port(),
            })
            .collect();
        brokers.sort_by_key(|b| b.id);
        Ok(ClusterDescription {
            brokers,
            controller,
            topics,
        })
    })
    .await;
    described.map_err(|err| match err {
        AdminError::Kafka { code, message } => AdminError::Kafka {
            code,
            message: cluster.explain(message),
        },
        other => other,
    })
}

/// The controller's broker id alone, without listing topics: for the cluster
/// list, where a Metadata request of every topic of every cluster would cost
/// too much. `None` when the cluster does not say in time.
pub async fn controller(cluster: &Arc<KafkaCluster>, timeout: Duration) -> Option<i32> {
    let cluster = cluster.clone();
    blocking(timeout, move || {
        Ok(ffi_groups::controller_id(
            cluster.admin.inner().native_ptr(),
            timeout,
        ))
    })
    .await
    .ok()
    .flatten()
}

/// Each broker's rack (`None` for a broker without one), by broker id.
pub async fn broker_racks(
    cluster: &Arc<KafkaCluster>,
    timeout: Duration,
) -> Result<BTreeMap<i32, Option<String>>, AdminError> {
    let cluster = cluster.clone();
    blocking(timeout, move || {
        ffi_groups::broker_racks(cluster.admin.inner().native_ptr(), timeout)
            .map(|racks| racks.into_iter().collect())
    })
    .await
}

/// Every config of a topic or broker, as the broker reports it.
pub async fn describe_configs(
    cluster: &Arc<KafkaCluster>,
    resource: ConfigResource,
    timeout: Duration,
) -> Result<Vec<ConfigEntry>, AdminError> {
    let cluster = cluster.clone();
    blocking(timeout, move || {
        let mut entries =
            ffi::describe_configs(cluster.admin.inner().native_ptr(), &resource, timeout)?;
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(entries)
    })
    .await
}

/// The configs of many topics, asked in requests of at most
/// `DESCRIBE_BATCH` topics, four at once, by topic name. A topic the broker
/// answered with an error carries it.
pub async fn describe_topic_configs(
    cluster: &Arc<KafkaCluster>,
    topics: &[String],
    timeout: Duration,
) -> Result<BTreeMap<String, Result<Vec<ConfigEntry>, AdminError>>, AdminError> {
    use futures::TryStreamExt;

    /// Topics per DescribeConfigs request: one answer stays well under a
    /// megabyte (a topic's configs are about 40 entries with synonyms).
    const DESCRIBE_BATCH: usize = 200;
    let batches: Vec<Vec<ConfigResource>> = topics
        .chunks(DESCRIBE_BATCH)
        .map(|chunk| chunk.iter().cloned().map(ConfigResource::Topic).collect())
        .collect();
    let answers: Vec<Vec<ffi::DescribedResource>> = stream::iter(batches)
        .map(|batch| {
            let cluster = cluster.clone();
            blocking(timeout, move || {
                ffi::describe_configs_many(cluster.admin.inner().native_ptr(), &batch, timeout)
            })
        })
        .buffer_unordered(4)
        .try_collect()
        .await?;
    Ok(answers
        .into_iter()
        .flatten()
        .map(|(name, described)| {
            (
                name,
                described.map(|mut entries| {
                    entries.sort_by(|a, b| a.name.cmp(&b.name));
                    entries
                }),
            )
        })
        .collect())
}

/// All consumer groups, or the one named (an empty list when it does not
/// exist).
pub async fn list_groups(
    cluster: &Arc<KafkaCluster>,
    group: Option<String>,
    timeout: Duration,
) -> Result<Vec<GroupInfo>, AdminError> {
    let cluster = cluster.clone();
    blocking(timeout, move || {
        let mut groups = ffi_groups::list_groups(
            cluster.admin.inner().native_ptr(),
            group.as_deref(),
            timeout,
        )?;
        groups.retain(|g| group.as_deref().is_none_or(|wanted| g.group_id == wanted));
        groups.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        groups.dedup_by(|a, b| a.group_id == b.group_id);
        Ok(groups)
    })
    .await
}

/// Partitions per ListOffsets call, and calls in flight at once: librdkafka
/// matches the partitions of a ListOffsets answer to its request one by one
/// against all of them, in time quadratic in the partitions of one call, so
/// 10,000 partitions asked at once cost seconds of CPU where calls of 500
/// cost milliseconds.
const OFFSETS_PER_CALL: usize = 500;
const OFFSET_CALLS_IN_FLIGHT: usize = 4;

/// The earliest or latest offset of each partition, keyed by (topic, partition).
pub async fn offsets(
    cluster: &Arc<KafkaCluster>,
    partitions: Vec<(String, i32)>,
    spec: OffsetSpec,
    timeout: Duration,
) -> Result<HashMap<(String, i32), PartitionOffset>, AdminError> {
    // Collected, so that no borrowing iterator is held across an await: the
    // callers' futures stay plainly `Send`.
    let calls: Vec<_> = partitions
        .chunks(OFFSETS_PER_CALL)
        .map(|chunk| {
            let (cluster, chunk) = (cluster.clone(), chunk.to_vec());
            blocking(timeout, move || {
                ffi_groups::list_offsets(cluster.admin.inner().native_ptr(), &chunk, spec, timeout)
            })
        })
        .collect();
    let mut answers = stream::iter(calls).buffer_unordered(OFFSET_CALLS_IN_FLIGHT);
    let mut found = HashMap::with_capacity(partitions.len());
    while let Some(answer) = answers.next().await {
        found.extend(
            answer?
                .into_iter()
                .map(|p| ((p.topic.clone(), p.partition), p)),
        );
    }
    Ok(found)
}

/// The group's committed offsets and, for each, the partition's end offset
/// and the member it is assigned to. Partitions are sorted by topic and id.
pub async fn group_lags(
    cluster: &Arc<KafkaCluster>,
    group: &GroupInfo,
    timeout: Duration,
) -> Result<Vec<PartitionLag>, AdminError> {
    let committed = {
        let cluster = cluster.clone();
        let group_id = group.group_id.clone();
        blocking(timeout, move || {
            ffi_groups::committed_offsets(cluster.admin.inner().native_ptr(), &group_id, timeout)
        })
        .await?
    };
    let committed: Vec<(String, i32, i64)> = committed
        .into_iter()
        .filter_map(|p| p.offset.map(|o| (p.topic, p.partition, o)))
        .collect();
    let wanted = committed.iter().map(|(t, p, _)| (t.clone(), *p)).collect();
    let ends = offsets(cluster, wanted, OffsetSpec::Latest, timeout).await?;
    let mut owner: HashMap<(String, i32), &GroupMember> = HashMap::new();
    for member in &group.members {
        for tp in member.partitions() {
            owner.insert(tp, member);
        }
    }
    let mut lags: Vec<PartitionLag> = committed
        .into_iter()
        .map(|(topic, partition, current)| {
            let key = (topic, partition);
            // A partition whose end offset cannot be read counts as caught up
            // rather than failing the whole answer.
            let end = ends
                .get(&key)
                .and_then(|p| p.offset)
                .unwrap_or(current)
                .max(current);
            PartitionLag {
                member: owner.get(&key).map(|m| (*m).clone()),
                topic: key.0,
                partition: key.1,
                current_offset: current,
                end_offset: end,
                lag: end - current,
            }
        })
        .collect();
    lags.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
    Ok(lags)
}

/// Every offset a group committed (partitions without a commit left out).
pub async fn committed_offsets(
    cluster: &Arc<KafkaCluster>,
    group_id: String,
    timeout: Duration,
) -> Result<Vec<PartitionOffset>, AdminError> {
    let cluster = cluster.clone();
    blocking(timeout, move || {
        let mut offsets =
            ffi_groups::committed_offsets(cluster.admin.inner().native_ptr(), &group_id, timeout)?;
        offsets.retain(|p| p.offset.is_some());
        Ok(offsets)
    })
    .await
}
