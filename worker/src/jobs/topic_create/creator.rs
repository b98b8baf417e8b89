//! The topic creator: one loop per cluster does all of this worker's topic
//! creation on that cluster, in rounds. A round asks for the cluster's
//! metadata once, and that one answer serves several ends: it settles every
//! topic still waiting to become writable, and it lists the brokers that
//! new topics are planned against. While that list is fresh, a round's new
//! topics are created (one CreateTopics per `topic_batch_size` topics)
//! before its metadata request, which then settles them too; otherwise the
//! metadata comes first and also serves as their inspection (does the topic
//! exist already, with which settings). Each topic gets its own answer.
//!
//! Why one loop and not one flow per job: every request to a cluster goes
//! over the admin client's one connection to the controller, where the
//! broker serves them in turn. Ten concurrent jobs each asking for metadata
//! before and after their CreateTopics put twenty metadata requests in that
//! line; a loop asks for it once per round, whatever the number of jobs.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use ferry_entity::ClusterId;
use serde_json::Value;
use tokio::{
    sync::{mpsc, oneshot},
    time::Instant,
};

use super::plan::{self, Brokers, Pending, Wanted};
use crate::jobs::JobError;
use ferry_service::{
    kafka::{self, KafkaCluster, admin, metadata},
    settings::WorkerSettings,
    topics::TopicSpec,
};

/// The first pause between two rounds that only wait for writability; it
/// grows by half each time up to [`MAX_PAUSE`]. New topics usually show up in
/// the first metadata after their CreateTopics.
const MIN_PAUSE: Duration = Duration::from_millis(10);
const MAX_PAUSE: Duration = Duration::from_millis(200);

/// A cluster's loop ends after this long without work, dropping its client
/// reference; the next topic for the cluster starts a new one.
const IDLE_EXIT: Duration = Duration::from_secs(60);

/// How long the brokers a round's metadata listed are trusted for planning
/// the next rounds' topics without asking again.
const BROKERS_FRESH: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy)]
struct LoopSettings {
    size: usize,
    linger: Duration,
    writable_timeout: Duration,
}

/// Topics sent to a cluster's loop together: one job's topics.
struct Group {
    topics: Vec<Pending>,
    /// Whether to wait up to `topic_batch_linger_ms` for more topics before
    /// creating: for jobs of one topic each, which arrive one by one.
    linger: bool,
}

/// One loop per cluster, started on first use.
pub struct TopicCreator {
    loops: Mutex<HashMap<ClusterId, mpsc::UnboundedSender<Group>>>,
    settings: LoopSettings,
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
            loops: Mutex::default(),
            settings: LoopSettings {
                size: settings.topic_batch_size.max(1),
                linger: Duration::from_millis(settings.topic_batch_linger_ms),
                writable_timeout: Duration::from_secs(settings.topic_writable_timeout_seconds),
            },
        }
    }

    /// Creates a job's topics on a registered cluster, together with
    /// whatever else this worker is creating there, and answers each.
    pub async fn create_all(
        &self,
        cluster: Arc<KafkaCluster>,
        specs: Vec<TopicSpec>,
    ) -> Vec<Result<Value, JobError>> {
        let Some(cluster_id) = cluster.id else {
            return self.create_unregistered(cluster, specs).await;
        };
        let (topics, answers) = pending_topics(&cluster, specs);
        if !topics.is_empty() {
            self.send(
                cluster_id,
                Group {
                    topics,
                    linger: false,
                },
            );
        }
        collect(answers).await
    }

    /// Creates one topic, batched with whatever else is asked for on its
    /// cluster at the same moment.
    pub(super) async fn create(
        &self,
        cluster: Arc<KafkaCluster>,
        spec: TopicSpec,
    ) -> Result<Value, JobError> {
        let Some(cluster_id) = cluster.id else {
            let mut results = self.create_unregistered(cluster, vec![spec]).await;
            return results.pop().unwrap_or_else(no_answer);
        };
        let (topics, answers) = pending_topics(&cluster, vec![spec]);
        self.send(
            cluster_id,
            Group {
                topics,
                linger: true,
            },
        );
        collect(answers).await.pop().unwrap_or_else(no_answer)
    }

    /// Creates topics on brokers outside the registry (a changefeed's
    /// downstream by address) with a loop of their own that ends with them:
    /// loops are keyed by registry id, which such brokers do not have.
    pub async fn create_unregistered(
        &self,
        cluster: Arc<KafkaCluster>,
        specs: Vec<TopicSpec>,
    ) -> Vec<Result<Value, JobError>> {
        let (topics, answers) = pending_topics(&cluster, specs);
        let (tx, rx) = mpsc::unbounded_channel();
        let _ = tx.send(Group {
            topics,
            linger: false,
        });
        drop(tx);
        let (_, results) = tokio::join!(run_loop(rx, self.settings), collect(answers));
        results
    }

    fn send(&self, cluster_id: ClusterId, mut group: Group) {
        // Retry once: a loop that ended leaves a closed sender behind.
        for _ in 0..2 {
            let sender = self.sender_for(cluster_id);
            match sender.send(group) {
                Ok(()) => return,
                Err(mpsc::error::SendError(back)) => {
                    self.loops
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .remove(&cluster_id);
                    group = back;
                }
            }
        }
        // Dropping the group drops its reply senders: each job is answered
        // with a retryable error by `collect`.
        tracing::warn!(%cluster_id, "topic creation loop unavailable");
    }

    fn sender_for(&self, cluster_id: ClusterId) -> mpsc::UnboundedSender<Group> {
        let mut loops = self.loops.lock().unwrap_or_else(|p| p.into_inner());
        loops
            .entry(cluster_id)
            .or_insert_with(|| {
                let (tx, rx) = mpsc::unbounded_channel();
                tokio::spawn(run_loop(rx, self.settings));
                tx
            })
            .clone()
    }
}

type Answer = oneshot::Receiver<Result<Value, JobError>>;

fn pending_topics(
    cluster: &Arc<KafkaCluster>,
    specs: Vec<TopicSpec>,
) -> (Vec<Pending>, Vec<Answer>) {
    specs
        .into_iter()
        .map(|spec| {
            let (reply, answer) = oneshot::channel();
            let pending = Pending {
                cluster: cluster.clone(),
                spec,
                reply,
            };
            (pending, answer)
        })
        .unzip()
}

async fn collect(answers: Vec<Answer>) -> Vec<Result<Value, JobError>> {
    let mut results = Vec::with_capacity(answers.len());
    for answer in answers {
        results.push(answer.await.unwrap_or_else(|_| no_answer()));
    }
    results
}

fn no_answer() -> Result<Value, JobError> {
    Err(JobError::Retryable(
        "the topic creation loop stopped".into(),
    ))
}

/// A topic created (or found) and not yet writable.
struct Waiting {
    wanted: Wanted,
    deadline: Instant,
    /// What the last metadata said was missing.
    missing: String,
}

/// The brokers the last metadata listed, and when it was read.
struct KnownBrokers {
    ids: Vec<i32>,
    read_at: Instant,
}

impl KnownBrokers {
    fn fresh(known: &Option<KnownBrokers>) -> Option<&[i32]> {
        known
            .as_ref()
            .filter(|k| k.read_at.elapsed() < BROKERS_FRESH && !k.ids.is_empty())
            .map(|k| k.ids.as_slice())
    }
}

/// A cluster's loop: runs rounds while there is anything to create or to
/// wait for, and ends when its channel closes (or after [`IDLE_EXIT`]).
async fn run_loop(mut rx: mpsc::UnboundedReceiver<Group>, settings: LoopSettings) {
    let mut incoming: Vec<Pending> = Vec::new();
    let mut waiting: Vec<Waiting> = Vec::new();
    let mut cluster: Option<Arc<KafkaCluster>> = None;
    let mut known: Option<KnownBrokers> = None;
    let mut pause = MIN_PAUSE;
    loop {
        if incoming.is_empty() && waiting.is_empty() {
            let group = match tokio::time::timeout(IDLE_EXIT, rx.recv()).await {
                Ok(Some(group)) => group,
                Ok(None) => return,
                Err(_) => {
                    // Refuse new work, then finish what was sent before.
                    rx.close();
                    match rx.recv().await {
                        Some(group) => group,
                        None => return,
                    }
                }
            };
            take(group, &mut rx, &mut incoming, settings).await;
        }
        while let Ok(group) = rx.try_recv() {
            incoming.extend(group.topics);
        }
        // The newest client: a cluster whose settings changed gets a new one.
        if let Some(newest) = incoming.last() {
            if !cluster
                .as_ref()
                .is_some_and(|c| Arc::ptr_eq(c, &newest.cluster))
            {
                known = None;
            }
            cluster = Some(newest.cluster.clone());
        }
        let Some(current) = cluster.clone() else {
            continue;
        };
        let created = round(&current, &mut incoming, &mut waiting, &mut known, settings).await;
        if waiting.is_empty() {
            pause = MIN_PAUSE;
            continue;
        }
        if created > 0 {
            // Look again at once: some brokers (tansu among them) list a
            // topic as soon as CreateTopics answers, and the answer is what
            // the topic's job waits for.
            pause = MIN_PAUSE;
            continue;
        }
        // Until the next look at the metadata, take new topics at once: the
        // next round inspects them with the same request. A closed channel
        // disables the first branch (its pattern does not match), leaving
        // the pause.
        tokio::select! {
            Some(group) = rx.recv() => take(group, &mut rx, &mut incoming, settings).await,
            () = tokio::time::sleep(pause) => pause = (pause * 3 / 2).min(MAX_PAUSE),
        }
    }
}

/// Adds a group's topics to the round; for a group that lingers, waits up
/// to `linger` for more, up to a batch.
async fn take(
    group: Group,
    rx: &mut mpsc::UnboundedReceiver<Group>,
    incoming: &mut Vec<Pending>,
    settings: LoopSettings,
) {
    incoming.extend(group.topics);
    if !group.linger {
        return;
    }
    let deadline = Instant::now() + settings.linger;
    while incoming.len() < settings.size {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(group)) => incoming.extend(group.topics),
            _ => break,
        }
    }
}

/// One round: one metadata request, with CreateTopics for the new topics
/// before it when the brokers are known from a moment ago, else after it.
/// Returns how many topics it asked the broker to create.
///
/// Creating first saves a round trip between a topic's arrival and its
/// answer: the round's metadata then both settles the new topics and lists
/// the brokers for the next round. Such topics are not looked up first; a
/// topic that exists already comes back from CreateTopics as
/// TopicAlreadyExists and its settings are compared when it settles, as for
/// a re-run. Topics with a region need the brokers' racks and always wait
/// for the metadata.
async fn round(
    cluster: &Arc<KafkaCluster>,
    incoming: &mut Vec<Pending>,
    waiting: &mut Vec<Waiting>,
    known: &mut Option<KnownBrokers>,
    settings: LoopSettings,
) -> usize {
    let started = std::time::Instant::now();
    let arrived = incoming.len();
    let mut creating = 0;
    if let Some(ids) = KnownBrokers::fresh(known)
        && !incoming.is_empty()
        && incoming.iter().all(|p| p.spec.region.is_none())
    {
        let brokers = Brokers { ids, racks: None };
        let to_create: Vec<Wanted> = incoming
            .drain(..)
            .filter_map(|p| plan::plan(p, &brokers))
            .collect();
        creating += create(cluster, to_create, waiting, settings).await;
    }
    let timeout = if incoming.is_empty() {
        kafka::INSPECT_TIMEOUT
    } else {
        kafka::INSPECT_TIMEOUT * 3
    };
    let metadata_started = std::time::Instant::now();
    let snapshot = metadata::snapshot(cluster, None, timeout).await;
    let looked = metadata_started.elapsed();
    let snapshot = match snapshot {
        Ok(s) if !s.broker_ids.is_empty() => s,
        other => {
            let err = match other {
                Ok(_) => "the cluster reports no brokers".to_owned(),
                Err(e) => format!("cluster unreachable: {e}"),
            };
            for pending in incoming.drain(..) {
                pending.answer(Err(JobError::Retryable(err.clone())));
            }
            expire(waiting, settings.writable_timeout);
            *known = None;
            return creating;
        }
    };
    *known = Some(KnownBrokers {
        ids: snapshot.broker_ids.clone(),
        read_at: Instant::now(),
    });
    let racks = if incoming.iter().any(|p| p.spec.region.is_some()) {
        let racks = admin::broker_racks(cluster, kafka::INSPECT_TIMEOUT * 3).await;
        Some(racks.map_err(|e| e.to_string()))
    } else {
        None
    };
    let brokers = Brokers {
        ids: &snapshot.broker_ids,
        racks: racks.as_ref(),
    };
    let mut to_create = Vec::new();
    let deadline = Instant::now() + settings.writable_timeout;
    for pending in incoming.drain(..) {
        let Some(wanted) = plan::plan(pending, &brokers) else {
            continue;
        };
        match snapshot.topic(wanted.name()).filter(|t| t.error.is_none()) {
            Some(existing) => match wanted.mismatch(existing) {
                Some(diff) => wanted.answer(Err(JobError::Permanent(diff))),
                // It exists with the requested settings: this same metadata
                // settles it below when it shows it writable.
                None => waiting.push(Waiting {
                    wanted,
                    deadline,
                    missing: "not yet writable".into(),
                }),
            },
            None => to_create.push(wanted),
        }
    }
    let settled_before = waiting.len();
    settle(waiting, &snapshot);
    let settled = settled_before - waiting.len();
    expire(waiting, settings.writable_timeout);

    creating += create(cluster, to_create, waiting, settings).await;
    tracing::debug!(
        arrived,
        settled,
        creating,
        metadata_s = looked.as_secs_f64(),
        round_s = started.elapsed().as_secs_f64(),
        waiting = waiting.len(),
        "topic round"
    );
    creating
}

/// CreateTopics for `to_create`, `topic_batch_size` topics per request; the
/// topics the broker took (or had) join `waiting`. Returns how many topics
/// were sent.
async fn create(
    cluster: &Arc<KafkaCluster>,
    mut to_create: Vec<Wanted>,
    waiting: &mut Vec<Waiting>,
    settings: LoopSettings,
) -> usize {
    let sent = to_create.len();
    while !to_create.is_empty() {
        let chunk: Vec<Wanted> = to_create
            .drain(..settings.size.min(to_create.len()))
            .collect();
        for wanted in plan::create_topics(cluster, chunk).await {
            waiting.push(Waiting {
                wanted,
                deadline: Instant::now() + settings.writable_timeout,
                missing: "not yet in metadata".into(),
            });
        }
    }
    sent
}

/// Answers every waiting topic the metadata shows writable.
fn settle(waiting: &mut Vec<Waiting>, snapshot: &metadata::ClusterSnapshot) {
    let mut still = Vec::with_capacity(waiting.len());
    for w in waiting.drain(..) {
        let state = snapshot.topic(w.wanted.name());
        if let Some((wanted, missing)) = w.wanted.settle(state) {
            still.push(Waiting {
                wanted,
                missing,
                deadline: w.deadline,
            });
        }
    }
    *waiting = still;
}

/// Fails the waiting topics whose wait is over, saying what was missing.
fn expire(waiting: &mut Vec<Waiting>, timeout: Duration) {
    let now = Instant::now();
    let (over, still): (Vec<_>, Vec<_>) = waiting.drain(..).partition(|w| w.deadline <= now);
    *waiting = still;
    for w in over {
        let msg = format!(
            "topic {} not writable after {timeout:?}: {}",
            w.wanted.name(),
            w.missing
        );
        w.wanted.answer(Err(JobError::Retryable(msg)));
    }
}
