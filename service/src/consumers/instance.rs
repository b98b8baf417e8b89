//! One consumer instance's Kafka consumer, as this process holds it: a
//! librdkafka consumer in the instance's group, what it reads, and the
//! record that did not fit the last answer. Calls on one instance run one
//! at a time (as the REST Proxy's are), each on tokio's blocking pool.
//!
//! Offsets: a record counts as consumed when it is returned, never when
//! librdkafka fetched it: its offset is stored for commit only then
//! (`enable.auto.offset.store=false`), so that an auto-commit, a commit of
//! "everything read" or a takeover by another process never skips a record
//! no client saw. A record that does not fit an answer's byte budget waits
//! in `pending` for the next `records` call.

use std::{
    collections::VecDeque,
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
    time::{Duration, Instant},
};

use ferry_entity::consumer_instance::{
    ConsumerFormat, ConsumerSettings, Subscription, TopicPartition,
};
use rdkafka::{
    ClientConfig, Offset, TopicPartitionList,
    consumer::{BaseConsumer, CommitMode, Consumer},
    error::{KafkaError, RDKafkaErrorCode},
    message::{Message, OwnedMessage},
};
use tokio::sync::Mutex;

use super::{ConsumerError, Key};
use crate::kafka::admin::AdminError;

/// How long a call waits on the cluster for a commit, a committed-offsets
/// read or metadata.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a seek is retried while a partition's fetcher settles.
const SEEK_SETTLE: Duration = Duration::from_secs(2);

/// How long a pattern's matching topics are trusted before the cluster is
/// asked again (as librdkafka's `metadata.max.age.ms` in ferry's clients).
const PATTERN_REFRESH: Duration = Duration::from_secs(5);

/// One record as read, before it is rendered in the instance's format.
#[derive(Debug, Clone)]
pub struct ConsumedRecord {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
}

impl ConsumedRecord {
    /// The bytes it counts against a `records` call's `max_bytes`.
    pub fn size(&self) -> u64 {
        (self.key.as_ref().map_or(0, Vec::len) + self.value.as_ref().map_or(0, Vec::len)) as u64
    }

    fn of(message: &OwnedMessage) -> Self {
        Self {
            topic: message.topic().to_owned(),
            partition: message.partition(),
            offset: message.offset(),
            key: message.key().map(<[u8]>::to_vec),
            value: message.payload().map(<[u8]>::to_vec),
        }
    }
}

/// A committed offset: the next offset the group reads from a partition.
#[derive(Debug, Clone)]
pub struct Committed {
    pub partition: TopicPartition,
    pub offset: i64,
    pub metadata: String,
}

/// Where a seek moves a partition's position.
#[derive(Debug, Clone, Copy)]
pub enum SeekTo {
    Offset(i64),
    Beginning,
    End,
}

pub struct Instance {
    pub key: Key,
    /// The instance's `consumer_instances` row.
    pub row_id: i64,
    pub format: ConsumerFormat,
    pub settings: ConsumerSettings,
    state: Arc<Mutex<State>>,
    /// Epoch milliseconds of the last call, for expiry.
    last_used_ms: AtomicI64,
}

struct State {
    /// `None` once the instance is closed: later calls find no instance.
    consumer: Option<Arc<BaseConsumer>>,
    subscription: Option<Subscription>,
    /// The topics a pattern matched, and when they were read.
    pattern_topics: Option<(Vec<String>, Instant)>,
    /// Records read from Kafka that did not fit an answer.
    pending: VecDeque<OwnedMessage>,
}

impl Instance {
    /// Builds the instance's consumer from the cluster's client settings
    /// and starts reading what `subscription` names: a new instance (none)
    /// or one taken over from another process, which resumes from the
    /// group's committed offsets.
    pub(super) async fn start(
        key: Key,
        row_id: i64,
        format: ConsumerFormat,
        settings: ConsumerSettings,
        mut config: ClientConfig,
        subscription: Option<Subscription>,
        max_poll_interval: Duration,
    ) -> Result<Arc<Self>, ConsumerError> {
        consumer_settings(&mut config, &key, &settings, max_poll_interval);
        let consumer: BaseConsumer = config
            .create()
            .map_err(|e| ConsumerError::InvalidConfig(format!("cannot build the consumer: {e}")))?;
        let instance = Arc::new(Self {
            key,
            row_id,
            format,
            settings,
            state: Arc::new(Mutex::new(State {
                consumer: Some(Arc::new(consumer)),
                subscription: None,
                pattern_topics: None,
                pending: VecDeque::new(),
            })),
            last_used_ms: AtomicI64::new(now_ms()),
        });
        if let Some(subscription) = subscription {
            instance.read(subscription).await?;
        }
        Ok(instance)
    }

    pub fn touch(&self) {
        self.last_used_ms.store(now_ms(), Ordering::Relaxed);
    }

    pub fn last_used_ms(&self) -> i64 {
        self.last_used_ms.load(Ordering::Relaxed)
    }

    /// What the instance reads now.
    pub async fn subscription(&self) -> Option<Subscription> {
        self.state.lock().await.subscription.clone()
    }

    /// The topics the instance is subscribed to: a pattern's as it last
    /// matched them; none for a manual assignment.
    pub async fn subscribed_topics(&self) -> Vec<String> {
        let state = self.state.lock().await;
        match &state.subscription {
            Some(Subscription::Topics { topics }) => topics.clone(),
            Some(Subscription::Pattern { .. }) => state
                .pattern_topics
                .as_ref()
                .map(|(topics, _)| topics.clone())
                .unwrap_or_default(),
            Some(Subscription::Assignments { .. }) | None => Vec::new(),
        }
    }

    /// Reads `subscription` from now on, replacing a subscription of the
    /// same kind; a subscription and an assignment exclude each other
    /// (`ConsumerError::Exclusive`) until the instance unsubscribes.
    pub async fn read(&self, subscription: Subscription) -> Result<(), ConsumerError> {
        let mut state = self.state.lock().await;
        let manual = matches!(subscription, Subscription::Assignments { .. });
        if let Some(current) = &state.subscription
            && matches!(current, Subscription::Assignments { .. }) != manual
        {
            return Err(ConsumerError::Exclusive);
        }
        let consumer = state.consumer()?;
        let topics = match &subscription {
            Subscription::Topics { topics } => Some(topics.clone()),
            Subscription::Pattern { pattern } => {
                let matched = self.matching(consumer.clone(), pattern).await?;
                state.pattern_topics = Some((matched.clone(), Instant::now()));
                Some(matched)
            }
            Subscription::Assignments { .. } => None,
        };
        match (&subscription, topics) {
            (Subscription::Assignments { partitions }, _) => {
                let mut list = TopicPartitionList::new();
                for p in partitions {
                    list.add_partition(&p.topic, p.partition);
                }
                blocking(move || consumer.assign(&list).map_err(kafka)).await?;
            }
            (_, Some(topics)) => {
                blocking(move || subscribe(&consumer, &topics)).await?;
            }
            (_, None) => {}
        }
        state.pending.clear();
        state.subscription = Some(subscription);
        Ok(())
    }

    /// Stops reading: drops the subscription (or the assignment).
    pub async fn unsubscribe(&self) -> Result<(), ConsumerError> {
        let mut state = self.state.lock().await;
        let consumer = state.consumer()?;
        let manual = matches!(state.subscription, Some(Subscription::Assignments { .. }));
        blocking(move || {
            if manual {
                consumer.unassign().map_err(kafka)
            } else {
                consumer.unsubscribe();
                Ok(())
            }
        })
        .await?;
        state.subscription = None;
        state.pattern_topics = None;
        state.pending.clear();
        Ok(())
    }

    /// The partitions the instance reads now: its manual assignment, or
    /// what its group gave it.
    pub async fn assignment(&self) -> Result<Vec<TopicPartition>, ConsumerError> {
        let state = self.state.lock().await;
        let consumer = state.consumer()?;
        blocking(move || Ok(partitions_of(&consumer.assignment().map_err(kafka)?))).await
    }

    /// Moves the positions of assigned partitions.
    pub async fn seek(&self, targets: Vec<(TopicPartition, SeekTo)>) -> Result<(), ConsumerError> {
        let mut state = self.state.lock().await;
        state.pending.retain(|m| {
            !targets
                .iter()
                .any(|(p, _)| p.topic == m.topic() && p.partition == m.partition())
        });
        let consumer = state.consumer()?;
        blocking(move || {
            let assigned = partitions_of(&consumer.assignment().map_err(kafka)?);
            if let Some((missing, _)) = targets.iter().find(|(p, _)| !assigned.contains(p)) {
                return Err(ConsumerError::NotAssigned(missing.clone()));
            }
            let mut list = TopicPartitionList::new();
            for (p, to) in &targets {
                let offset = match to {
                    SeekTo::Offset(o) => Offset::Offset(*o),
                    SeekTo::Beginning => Offset::Beginning,
                    SeekTo::End => Offset::End,
                };
                list.add_partition_offset(&p.topic, p.partition, offset)
                    .map_err(kafka)?;
            }
            // A partition whose fetcher is still starting (just assigned,
            // or still settling an earlier seek) refuses a seek with
            // `_STATE` for a moment: those are sought again, briefly.
            let deadline = Instant::now() + SEEK_SETTLE;
            loop {
                let sought = consumer
                    .seek_partitions(list, CALL_TIMEOUT)
                    .map_err(kafka)?;
                let mut again = TopicPartitionList::new();
                for element in sought.elements() {
                    match element.error() {
                        Ok(()) => {}
                        Err(KafkaError::OffsetFetch(RDKafkaErrorCode::State))
                            if Instant::now() < deadline =>
                        {
                            again
                                .add_partition_offset(
                                    element.topic(),
                                    element.partition(),
                                    element.offset(),
                                )
                                .map_err(kafka)?;
                        }
                        Err(err) => return Err(kafka(err)),
                    }
                }
                if again.count() == 0 {
                    return Ok(());
                }
                std::thread::sleep(Duration::from_millis(50));
                list = again;
            }
        })
        .await
    }

    /// Gives back records a `records` call read but could not answer (one
    /// that does not render in the instance's format): each partition's
    /// next read starts at its first such record again, and their offsets
    /// are no longer stored, so no commit passes over them.
    pub async fn unread(&self, records: &[ConsumedRecord]) -> Result<(), ConsumerError> {
        let mut first: Vec<(TopicPartition, i64)> = Vec::new();
        for r in records {
            let partition = TopicPartition {
                topic: r.topic.clone(),
                partition: r.partition,
            };
            match first.iter_mut().find(|(p, _)| *p == partition) {
                Some((_, offset)) => *offset = (*offset).min(r.offset),
                None => first.push((partition, r.offset)),
            }
        }
        {
            let state = self.state.lock().await;
            let consumer = state.consumer()?;
            let mut list = TopicPartitionList::new();
            for (p, offset) in &first {
                list.add_partition_offset(&p.topic, p.partition, Offset::Offset(*offset))
                    .map_err(kafka)?;
            }
            blocking(move || consumer.store_offsets(&list).map_err(kafka)).await?;
        }
        self.seek(
            first
                .into_iter()
                .map(|(p, offset)| (p, SeekTo::Offset(offset)))
                .collect(),
        )
        .await
    }

    /// Reads records for up to `timeout`: answers as soon as records are
    /// there (or, with `fetch.min.bytes`, that many bytes), or when the
    /// time is up, with at most `max_bytes` of keys and values (and at
    /// least one record when one is there, however large).
    pub async fn records(
        &self,
        timeout: Duration,
        max_bytes: u64,
    ) -> Result<Vec<ConsumedRecord>, ConsumerError> {
        let mut state = self.state.clone().lock_owned().await;
        if let (Some(Subscription::Pattern { pattern }), Some((_, read_at))) =
            (&state.subscription, &state.pattern_topics)
            && read_at.elapsed() >= PATTERN_REFRESH
        {
            let matched = self.matching(state.consumer()?, pattern).await?;
            if state.pattern_topics.as_ref().map(|(t, _)| t) != Some(&matched) {
                let consumer = state.consumer()?;
                let topics = matched.clone();
                blocking(move || subscribe(&consumer, &topics)).await?;
            }
            state.pattern_topics = Some((matched, Instant::now()));
        }
        let min_bytes = self.settings.fetch_min_bytes.unwrap_or(1);
        let consumer = state.consumer()?;
        blocking(move || {
            let deadline = Instant::now() + timeout;
            let mut out: Vec<ConsumedRecord> = Vec::new();
            let mut bytes = 0u64;
            loop {
                let enough = !out.is_empty() && bytes >= min_bytes;
                let next = match state.pending.pop_front() {
                    Some(m) => Some(m),
                    None => {
                        let wait = if enough {
                            Duration::ZERO
                        } else {
                            deadline.saturating_duration_since(Instant::now())
                        };
                        match consumer.poll(wait) {
                            None => None,
                            Some(Ok(m)) => Some(m.detach()),
                            Some(Err(KafkaError::PartitionEOF(_))) => continue,
                            Some(Err(KafkaError::MessageConsumption(code))) if passing(code) => {
                                tracing::debug!(
                                    ?code,
                                    "a consumer instance's read went on past an error"
                                );
                                continue;
                            }
                            Some(Err(err)) if out.is_empty() => return Err(kafka(err)),
                            // Answer what was read; the error comes back on
                            // the next call if it persists.
                            Some(Err(_)) => break,
                        }
                    }
                };
                let Some(message) = next else {
                    if enough || Instant::now() >= deadline {
                        break;
                    }
                    continue;
                };
                let record = ConsumedRecord::of(&message);
                if !out.is_empty() && bytes + record.size() > max_bytes {
                    state.pending.push_front(message);
                    break;
                }
                consumer
                    .store_offset(&record.topic, record.partition, record.offset)
                    .map_err(kafka)?;
                bytes += record.size();
                out.push(record);
                if bytes >= max_bytes {
                    break;
                }
            }
            Ok(out)
        })
        .await
    }

    /// The cluster's topics `pattern` matches now (`matching_topics`).
    async fn matching(
        &self,
        consumer: Arc<BaseConsumer>,
        pattern: &str,
    ) -> Result<Vec<String>, ConsumerError> {
        let regex = full_match(pattern)?;
        let prefix = self.settings.name_prefix.clone();
        blocking(move || matching_topics(&consumer, &regex, prefix)).await
    }

    /// Commits the given offsets (each the last record processed, as the
    /// REST Proxy takes them: the group resumes after it), or, with none,
    /// every record returned so far.
    pub async fn commit(
        &self,
        offsets: Option<Vec<(TopicPartition, i64)>>,
    ) -> Result<(), ConsumerError> {
        let state = self.state.lock().await;
        let consumer = state.consumer()?;
        blocking(move || match offsets {
            None => match consumer.commit_consumer_state(CommitMode::Sync) {
                // Nothing returned yet: nothing to commit.
                Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => Ok(()),
                other => other.map_err(kafka),
            },
            Some(offsets) => {
                let mut list = TopicPartitionList::new();
                for (p, offset) in offsets {
                    list.add_partition_offset(&p.topic, p.partition, Offset::Offset(offset + 1))
                        .map_err(kafka)?;
                }
                consumer.commit(&list, CommitMode::Sync).map_err(kafka)
            }
        })
        .await
    }

    /// The group's committed offsets of `partitions`, whoever committed
    /// them; a partition without one is left out (as the REST Proxy does).
    pub async fn committed(
        &self,
        partitions: Vec<TopicPartition>,
    ) -> Result<Vec<Committed>, ConsumerError> {
        let state = self.state.lock().await;
        let consumer = state.consumer()?;
        blocking(move || {
            let mut list = TopicPartitionList::new();
            for p in &partitions {
                list.add_partition(&p.topic, p.partition);
            }
            let committed = consumer
                .committed_offsets(list, CALL_TIMEOUT)
                .map_err(kafka)?;
            Ok(committed
                .elements()
                .iter()
                .filter_map(|e| match e.offset() {
                    Offset::Offset(offset) => Some(Committed {
                        partition: TopicPartition {
                            topic: e.topic().to_owned(),
                            partition: e.partition(),
                        },
                        offset,
                        metadata: e.metadata().to_owned(),
                    }),
                    _ => None,
                })
                .collect())
        })
        .await
    }

    /// Leaves the group (committing returned records when auto-commit is
    /// on) and closes the consumer, off the async threads: librdkafka's
    /// close waits for the group.
    pub async fn close(&self) {
        let consumer = self.state.lock().await.consumer.take();
        if let Some(consumer) = consumer {
            // The last reference: dropping it closes the consumer.
            let _ = tokio::task::spawn_blocking(move || drop(consumer)).await;
        }
    }
}

impl State {
    fn consumer(&self) -> Result<Arc<BaseConsumer>, ConsumerError> {
        self.consumer.clone().ok_or(ConsumerError::NotFound)
    }
}

/// The settings of an instance's consumer, on top of its cluster's client
/// settings.
fn consumer_settings(
    config: &mut ClientConfig,
    key: &Key,
    settings: &ConsumerSettings,
    max_poll_interval: Duration,
) {
    config
        .set("group.id", &key.group)
        .set("client.id", format!("ferry-{}", key.name))
        .set("enable.auto.commit", settings.auto_commit.to_string())
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", settings.auto_offset_reset.as_str())
        .set("enable.partition.eof", "false")
        // A REST client polls at its own pace; the instance stays in its
        // group as long as it is not expired.
        .set(
            "max.poll.interval.ms",
            max_poll_interval
                .as_millis()
                .clamp(1, 86_400_000)
                .to_string(),
        );
    if let Some(min) = settings.fetch_min_bytes {
        config.set("fetch.min.bytes", min.clamp(1, 100_000_000).to_string());
    }
}

/// Errors librdkafka reports while it goes on consuming, which Java's
/// consumer (and so the REST Proxy) keeps to itself: a subscribed topic
/// that does not exist yet (librdkafka reports it at every metadata
/// refresh, even after the subscription changed) and a lost broker
/// connection it re-establishes.
fn passing(code: RDKafkaErrorCode) -> bool {
    matches!(
        code,
        RDKafkaErrorCode::UnknownTopicOrPartition
            | RDKafkaErrorCode::UnknownTopic
            | RDKafkaErrorCode::UnknownPartition
            | RDKafkaErrorCode::BrokerTransportFailure
            | RDKafkaErrorCode::AllBrokersDown
    )
}

fn subscribe(consumer: &BaseConsumer, topics: &[String]) -> Result<(), ConsumerError> {
    if topics.is_empty() {
        consumer.unsubscribe();
        return Ok(());
    }
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    consumer.subscribe(&names).map_err(kafka)
}

/// `pattern` as a regular expression that must match a whole topic name.
pub fn full_match(pattern: &str) -> Result<regex::Regex, ConsumerError> {
    regex::Regex::new(&format!("^(?:{pattern})$"))
        .map_err(|e| ConsumerError::InvalidConfig(format!("topic_pattern does not parse: {e}")))
}

/// The cluster's topics `regex` matches, under `prefix` when the instance
/// belongs to a project.
fn matching_topics(
    consumer: &BaseConsumer,
    regex: &regex::Regex,
    prefix: Option<String>,
) -> Result<Vec<String>, ConsumerError> {
    let metadata = consumer.fetch_metadata(None, CALL_TIMEOUT).map_err(kafka)?;
    let mut topics: Vec<String> = metadata
        .topics()
        .iter()
        .map(|t| t.name())
        .filter(|name| regex.is_match(name))
        .filter(|name| prefix.as_deref().is_none_or(|p| name.starts_with(p)))
        .map(str::to_owned)
        .collect();
    topics.sort();
    Ok(topics)
}

fn partitions_of(list: &TopicPartitionList) -> Vec<TopicPartition> {
    let mut partitions: Vec<TopicPartition> = list
        .elements()
        .iter()
        .map(|e| TopicPartition {
            topic: e.topic().to_owned(),
            partition: e.partition(),
        })
        .collect();
    partitions.sort();
    partitions
}

fn kafka(err: KafkaError) -> ConsumerError {
    ConsumerError::Kafka(AdminError::from(err))
}

async fn blocking<T: Send + 'static>(
    call: impl FnOnce() -> Result<T, ConsumerError> + Send + 'static,
) -> Result<T, ConsumerError> {
    tokio::task::spawn_blocking(call).await.map_err(|e| {
        ConsumerError::Kafka(AdminError::Invalid(format!("the Kafka call failed: {e}")))
    })?
}

pub(super) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
