//! What one requested topic becomes on its cluster: its effective partition
//! count, replication factor and (for a `region`) replica assignment; the
//! CreateTopics call for a round's new topics; and each topic's answer once
//! the metadata shows it writable.

use std::{collections::HashMap, sync::Arc, time::Duration};

use rdkafka::{
    admin::{AdminOptions, NewTopic, TopicReplication},
    error::RDKafkaErrorCode,
};
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::jobs::JobError;
use ferry_service::{
    kafka::{self, KafkaCluster, metadata, placement},
    topics::TopicSpec,
};

/// A topic asked for, with the channel its job waits on.
pub(super) struct Pending {
    pub cluster: Arc<KafkaCluster>,
    pub spec: TopicSpec,
    pub reply: oneshot::Sender<Result<Value, JobError>>,
}

impl Pending {
    pub fn answer(self, outcome: Result<Value, JobError>) {
        let _ = self.reply.send(outcome);
    }
}

/// The brokers a round plans against: every broker's id, and each broker's
/// rack when a topic of the round names a region.
pub(super) struct Brokers<'a> {
    pub ids: &'a [i32],
    pub racks: Option<&'a Result<std::collections::BTreeMap<i32, Option<String>>, String>>,
}

/// A topic of the round with its effective settings.
pub(super) struct Wanted {
    pub pending: Pending,
    pub partitions: usize,
    pub replication: usize,
    /// Replicas of each partition, when the topic is confined to a rack.
    pub assignment: Option<Vec<Vec<i32>>>,
    /// Whether this attempt's CreateTopics made the topic (as opposed to
    /// finding it there).
    pub created: bool,
}

/// The effective settings of a requested topic on these brokers; `None`
/// when it cannot be made there, having answered why.
pub(super) fn plan(pending: Pending, brokers: &Brokers<'_>) -> Option<Wanted> {
    // A topic with a region may only use the brokers of that rack.
    let eligible = match (&pending.spec.region, brokers.racks) {
        (Some(region), Some(Ok(racks))) => match placement::brokers_in_rack(racks, region) {
            Ok(ids) => ids,
            Err(msg) => {
                pending.answer(Err(JobError::Permanent(msg)));
                return None;
            }
        },
        (Some(_), Some(Err(e))) => {
            let msg = format!("cannot read the brokers' racks: {e}");
            pending.answer(Err(JobError::Retryable(msg)));
            return None;
        }
        _ => brokers.ids.to_vec(),
    };
    let count = eligible.len();
    let partitions = pending
        .spec
        .partition_count
        .map_or(count, |p| p.max(1) as usize);
    let replication = pending
        .spec
        .replication_factor
        .map_or(count.min(3), |r| r.max(1) as usize);
    if replication > count {
        let brokers = match &pending.spec.region {
            Some(region) => format!("the {count} broker(s) of rack `{region}`"),
            None => format!("the cluster's {count} broker(s)"),
        };
        let msg = format!("replicationFactor {replication} exceeds {brokers}");
        pending.answer(Err(JobError::Permanent(msg)));
        return None;
    }
    let assignment = pending
        .spec
        .region
        .is_some()
        .then(|| placement::assign(&eligible, partitions, replication));
    Some(Wanted {
        pending,
        partitions,
        replication,
        assignment,
        created: false,
    })
}

impl Wanted {
    pub fn name(&self) -> &str {
        &self.pending.spec.topic_name
    }

    pub fn answer(self, outcome: Result<Value, JobError>) {
        self.pending.answer(outcome);
    }

    /// What differs between the existing topic and the request, if anything.
    pub fn mismatch(&self, existing: &metadata::TopicState) -> Option<String> {
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

    /// Answers the topic if the metadata shows it writable (succeeded, or
    /// failed permanently when someone else's topic differs from the
    /// request); gives it back, with what is missing, otherwise.
    pub fn settle(self, state: Option<&metadata::TopicState>) -> Option<(Wanted, String)> {
        let Some(topic) = state.filter(|t| t.is_writable()) else {
            let missing = state.map_or_else(
                || "not yet in metadata".to_owned(),
                |t| {
                    format!(
                        "{} of {} partitions without a leader",
                        t.leaderless, t.partitions
                    )
                },
            );
            return Some((self, missing));
        };
        if let Some(diff) = (!self.created).then(|| self.mismatch(topic)).flatten() {
            self.answer(Err(JobError::Permanent(diff)));
            return None;
        }
        let mut result = json!({
            "topic": self.name(),
            "partitions": topic.partitions,
            "replicationFactor": self.replication,
            "created": self.created,
        });
        if let (Some(region), Some(assignment)) = (&self.pending.spec.region, &self.assignment) {
            result["region"] = json!(region);
            result["replicas"] = json!(assignment);
        }
        self.answer(Ok(result));
        None
    }
}

/// One CreateTopics request for `wanted`; returns the topics to wait for,
/// having answered those the broker refused.
pub(super) async fn create_topics(cluster: &Arc<KafkaCluster>, wanted: Vec<Wanted>) -> Vec<Wanted> {
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
    let results = cluster.admin().create_topics(&new_topics, &options).await;
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
    let mut waiting = Vec::with_capacity(wanted.len());
    for mut w in wanted {
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
