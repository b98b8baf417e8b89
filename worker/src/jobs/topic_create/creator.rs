//! The topic creator: one batcher per cluster merges the topics asked for at
//! the same moment into one CreateTopics request (up to `topic_batch_size`),
//! awaits their writability with shared Metadata requests, and answers each
//! topic on its own. A topic with a `region` gets a replica assignment over
//! the brokers of that rack.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use rdkafka::{
    admin::{AdminOptions, NewTopic, TopicReplication},
    error::RDKafkaErrorCode,
};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

use crate::{
    jobs::JobError,
    kafka::{self, KafkaCluster, admin, metadata, placement},
    settings::WorkerSettings,
    topics::TopicSpec,
};

struct Pending {
    cluster: Arc<KafkaCluster>,
    spec: TopicSpec,
    reply: oneshot::Sender<Result<Value, JobError>>,
}

#[derive(Debug, Clone, Copy)]
struct BatchSettings {
    size: usize,
    linger: Duration,
    writable_timeout: Duration,
}

/// One batcher per cluster, created on first use.
pub struct TopicCreator {
    batchers: Mutex<HashMap<i64, mpsc::UnboundedSender<Pending>>>,
    settings: BatchSettings,
}

impl std::fmt::Debug for TopicCreator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TopicCreator")
            .field("settings", &self.settings)
            .finish()
    }
}

impl TopicCreator {
    pub fn new(settings: &WorkerSettings) -> Self {
        Self {
            batchers: Mutex::default(),
            settings: BatchSettings {
                size: settings.topic_batch_size.max(1),
                linger: Duration::from_millis(settings.topic_batch_linger_ms),
                writable_timeout: Duration::from_secs(settings.topic_writable_timeout_seconds),
            },
        }
    }

    /// Creates a request's topics now, in one batch, and answers each.
    pub async fn create_all(
        &self,
        cluster: Arc<KafkaCluster>,
        specs: Vec<TopicSpec>,
    ) -> Vec<Result<Value, JobError>> {
        let mut answers = Vec::with_capacity(specs.len());
        let mut batch = Vec::with_capacity(specs.len());
        for spec in specs {
            let (reply, answer) = oneshot::channel();
            batch.push(Pending {
                cluster: cluster.clone(),
                spec,
                reply,
            });
            answers.push(answer);
        }
        if !batch.is_empty() {
            create_batch(batch, self.settings).await;
        }
        let mut results = Vec::with_capacity(answers.len());
        for answer in answers {
            results.push(
                answer.await.unwrap_or_else(|_| {
                    Err(JobError::Retryable("no answer for this topic".into()))
                }),
            );
        }
        results
    }

    /// Creates one topic, batched with whatever else is asked for on its
    /// cluster at the same moment.
    pub(super) async fn create(
        &self,
        cluster: Arc<KafkaCluster>,
        spec: TopicSpec,
    ) -> Result<Value, JobError> {
        let (reply, answer) = oneshot::channel();
        let mut pending = Pending {
            cluster,
            spec,
            reply,
        };
        // Retry once: a batcher whose task ended leaves a closed sender behind.
        for _ in 0..2 {
            let sender = self.sender_for(pending.cluster.id);
            match sender.send(pending) {
                Ok(()) => {
                    return answer.await.unwrap_or_else(|_| {
                        Err(JobError::Retryable("topic batcher stopped".into()))
                    });
                }
                Err(mpsc::error::SendError(back)) => {
                    self.batchers
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .remove(&back.cluster.id);
                    pending = back;
                }
            }
        }
        Err(JobError::Retryable("topic batcher unavailable".into()))
    }

    fn sender_for(&self, cluster_id: i64) -> mpsc::UnboundedSender<Pending> {
        let mut batchers = self.batchers.lock().unwrap_or_else(|p| p.into_inner());
        batchers
            .entry(cluster_id)
            .or_insert_with(|| {
                let (tx, rx) = mpsc::unbounded_channel();
                tokio::spawn(collect_batches(rx, self.settings));
                tx
            })
            .clone()
    }
}

/// Gathers requests that arrive within `linger` of the first into one batch.
async fn collect_batches(mut rx: mpsc::UnboundedReceiver<Pending>, settings: BatchSettings) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + settings.linger;
        while batch.len() < settings.size {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(next)) => batch.push(next),
                _ => break,
            }
        }
        // The next batch may form while this one waits for writability.
        tokio::spawn(create_batch(batch, settings));
    }
}

/// A topic of the batch with its effective settings.
struct Wanted {
    pending: Pending,
    partitions: usize,
    replication: usize,
    /// Replicas of each partition, when the topic is confined to a rack.
    assignment: Option<Vec<Vec<i32>>>,
    created: bool,
}

impl Wanted {
    fn name(&self) -> &str {
        &self.pending.spec.topic_name
    }

    fn answer(self, outcome: Result<Value, JobError>) {
        let _ = self.pending.reply.send(outcome);
    }

    /// What differs between the existing topic and the request, if anything.
    fn mismatch(&self, existing: &metadata::TopicState) -> Option<String> {
        let mut diffs = Vec::new();
        if existing.partitions != self.partitions {
            diffs.push(format!(
                "{} partitions, requested {}",
                existing.partitions, self.partitions
            ));
        }
        // Some brokers (tansu among them) report no replica list; only a
        // reported one can be compared.
        if existing.replication_factor > 0 && existing.replication_factor != self.replication {
            diffs.push(format!(
                "replication factor {}, requested {}",
                existing.replication_factor, self.replication
            ));
        }
        (!diffs.is_empty()).then(|| {
            format!(
                "topic {} already exists with {}",
                self.name(),
                diffs.join(" and ")
            )
        })
    }
}

async fn create_batch(batch: Vec<Pending>, settings: BatchSettings) {
    let cluster = batch[0].cluster.clone();
    let started = std::time::Instant::now();
    let snapshot = match metadata::snapshot(&cluster, None, kafka::INSPECT_TIMEOUT * 3).await {
        Ok(s) if !s.broker_ids.is_empty() => s,
        Ok(_) => {
            return fail_all(
                batch,
                JobError::Retryable("the cluster reports no brokers".into()),
            );
        }
        Err(e) => {
            return fail_all(
                batch,
                JobError::Retryable(format!("cluster unreachable: {e}")),
            );
        }
    };
    let racks = if batch.iter().any(|p| p.spec.region.is_some()) {
        Some(
            admin::broker_racks(&cluster, kafka::INSPECT_TIMEOUT * 3)
                .await
                .map_err(|e| e.to_string()),
        )
    } else {
        None
    };
    let mut to_create = Vec::new();
    let mut to_wait = Vec::new();
    for pending in batch {
        // A topic with a region may only use the brokers of that rack.
        let eligible = match (&pending.spec.region, &racks) {
            (Some(region), Some(Ok(racks))) => match placement::brokers_in_rack(racks, region) {
                Ok(brokers) => brokers,
                Err(msg) => {
                    let _ = pending.reply.send(Err(JobError::Permanent(msg)));
                    continue;
                }
            },
            (Some(_), Some(Err(e))) => {
                let msg = format!("cannot read the brokers' racks: {e}");
                let _ = pending.reply.send(Err(JobError::Retryable(msg)));
                continue;
            }
            _ => snapshot.broker_ids.clone(),
        };
        let brokers = eligible.len();
        let partitions = pending
            .spec
            .partition_count
            .map_or(brokers, |p| p.max(1) as usize);
        let replication = pending
            .spec
            .replication_factor
            .map_or(brokers.min(3), |r| r.max(1) as usize);
        if replication > brokers {
            let brokers = match &pending.spec.region {
                Some(region) => format!("the {brokers} broker(s) of rack `{region}`"),
                None => format!("the cluster's {brokers} broker(s)"),
            };
            let msg = format!("replicationFactor {replication} exceeds {brokers}");
            let _ = pending.reply.send(Err(JobError::Permanent(msg)));
            continue;
        }
        let assignment = pending
            .spec
            .region
            .is_some()
            .then(|| placement::assign(&eligible, partitions, replication));
        let wanted = Wanted {
            pending,
            partitions,
            replication,
            assignment,
            created: false,
        };
        match snapshot.topic(wanted.name()).filter(|t| t.error.is_none()) {
            Some(existing) => match wanted.mismatch(existing) {
                Some(diff) => wanted.answer(Err(JobError::Permanent(diff))),
                None => to_wait.push(wanted),
            },
            None => to_create.push(wanted),
        }
    }
    let inspected = started.elapsed();
    let creating = to_create.len();
    if !to_create.is_empty() {
        to_wait.extend(create_topics(&cluster, to_create).await);
    }
    let created = started.elapsed();
    let polls = await_writable(&cluster, to_wait, settings.writable_timeout).await;
    tracing::debug!(
        creating,
        inspect_s = inspected.as_secs_f64(),
        create_s = (created - inspected).as_secs_f64(),
        writable_s = (started.elapsed() - created).as_secs_f64(),
        polls,
        "topic batch done"
    );
}

/// One CreateTopics request for the whole batch; returns the topics to wait for.
async fn create_topics(cluster: &Arc<KafkaCluster>, mut wanted: Vec<Wanted>) -> Vec<Wanted> {
    let assignments: Vec<Option<Vec<&[i32]>>> = wanted
        .iter()
        .map(|w| {
            w.assignment
                .as_ref()
                .map(|a| a.iter().map(Vec::as_slice).collect())
        })
        .collect();
    let new_topics: Vec<NewTopic<'_>> = wanted
        .iter()
        .zip(&assignments)
        .map(|(w, assignment)| {
            let replication = match assignment {
                Some(replicas) => TopicReplication::Variable(replicas),
                None => TopicReplication::Fixed(w.replication as i32),
            };
            let mut topic =
                NewTopic::new(&w.pending.spec.topic_name, w.partitions as i32, replication);
            for (key, value) in &w.pending.spec.configs {
                topic = topic.set(key, value);
            }
            topic
        })
        .collect();
    let options = AdminOptions::new()
        .operation_timeout(Some(Duration::from_secs(30)))
        .request_timeout(Some(Duration::from_secs(30)));
    let results = cluster.admin.create_topics(&new_topics, &options).await;
    drop(new_topics);
    drop(assignments);
    let results = match results {
        Ok(results) => results,
        Err(err) => {
            let transient = kafka::is_transient(&err);
            for w in wanted {
                let msg = format!("CreateTopics failed: {err}");
                w.answer(Err(if transient {
                    JobError::Retryable(msg)
                } else {
                    JobError::Permanent(msg)
                }));
            }
            return Vec::new();
        }
    };
    let outcomes: HashMap<String, Result<(), RDKafkaErrorCode>> = results
        .into_iter()
        .map(|r| match r {
            Ok(name) => (name, Ok(())),
            Err((name, code)) => (name, Err(code)),
        })
        .collect();
    let mut waiting = Vec::new();
    for mut w in wanted.drain(..) {
        match outcomes.get(w.name()).copied() {
            Some(Ok(())) => {
                w.created = true;
                waiting.push(w);
            }
            // Created by an earlier attempt or by someone else: its settings
            // are checked once its metadata is visible.
            Some(Err(RDKafkaErrorCode::TopicAlreadyExists)) => waiting.push(w),
            Some(Err(code)) => {
                let msg = format!("creating topic {} failed: {code}", w.name());
                let err = if kafka::is_transient_code(code) {
                    JobError::Retryable(msg)
                } else {
                    JobError::Permanent(msg)
                };
                w.answer(Err(err));
            }
            None => {
                let msg = format!("the broker did not answer for topic {}", w.name());
                w.answer(Err(JobError::Retryable(msg)));
            }
        }
    }
    waiting
}

/// Polls metadata until every topic has a leader for each partition;
/// returns how many Metadata requests that took. The whole cluster's
/// metadata is asked for, not just the batch's topics: on tansu a
/// DescribeTopics of 100 topics took 10-40 ms where the Metadata of all
/// 1,000-2,000 topics took 1-5 ms.
async fn await_writable(
    cluster: &Arc<KafkaCluster>,
    mut waiting: Vec<Wanted>,
    timeout: Duration,
) -> usize {
    let mut polls = 0;
    let deadline = tokio::time::Instant::now() + timeout;
    // Metadata requests are cheap (milliseconds even with thousands of
    // topics), and new topics usually show up within a few of them.
    let mut pause = Duration::from_millis(10);
    let mut last_state: HashMap<String, String> = HashMap::new();
    while !waiting.is_empty() {
        polls += 1;
        if let Ok(snapshot) = metadata::snapshot(cluster, None, kafka::INSPECT_TIMEOUT).await {
            let mut still = Vec::new();
            for w in waiting {
                match snapshot.topic(w.name()) {
                    Some(t) if t.is_writable() => {
                        if let Some(diff) = (!w.created).then(|| w.mismatch(t)).flatten() {
                            w.answer(Err(JobError::Permanent(diff)));
                        } else {
                            let mut result = json!({
                                "topic": w.name(),
                                "partitions": t.partitions,
                                "replicationFactor": w.replication,
                                "created": w.created,
                            });
                            if let (Some(region), Some(assignment)) =
                                (&w.pending.spec.region, &w.assignment)
                            {
                                result["region"] = json!(region);
                                result["replicas"] = json!(assignment);
                            }
                            w.answer(Ok(result));
                        }
                    }
                    other => {
                        let state = other.map_or_else(
                            || "not yet in metadata".to_owned(),
                            |t| {
                                format!(
                                    "{} of {} partitions without a leader",
                                    t.leaderless, t.partitions
                                )
                            },
                        );
                        last_state.insert(w.name().to_owned(), state);
                        still.push(w);
                    }
                }
            }
            waiting = still;
        }
        if waiting.is_empty() || tokio::time::Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 3 / 2).min(Duration::from_millis(200));
    }
    for w in waiting {
        let state = last_state
            .get(w.name())
            .cloned()
            .unwrap_or_else(|| "metadata unavailable".into());
        let msg = format!("topic {} not writable after {timeout:?}: {state}", w.name());
        w.answer(Err(JobError::Retryable(msg)));
    }
    polls
}

fn fail_all(batch: Vec<Pending>, err: JobError) {
    let retryable = err.is_retryable();
    let msg = err.to_string();
    for p in batch {
        let e = if retryable {
            JobError::Retryable(msg.clone())
        } else {
            JobError::Permanent(msg.clone())
        };
        let _ = p.reply.send(Err(e));
    }
}
