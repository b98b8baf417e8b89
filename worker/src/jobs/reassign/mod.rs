//! `partition.reassign` and `broker.remove`: replica moves, as
//! `kafka-reassign-partitions.sh --throttle` makes them.
//!
//! 1. The moves are checked against the cluster (`plan.rs` plans a broker
//!    removal's, from what is still on the broker, so a retried attempt
//!    resumes where the last one stopped).
//! 2. With a throttle, each involved broker's
//!    `leader.replication.throttled.rate` and
//!    `follower.replication.throttled.rate` are set to it, and each topic's
//!    `leader.replication.throttled.replicas` (the current replicas) and
//!    `follower.replication.throttled.replicas` (the new ones).
//! 3. AlterPartitionReassignments goes to the controller
//!    (`kafka::wire::reassign`).
//! 4. ListPartitionReassignments is asked every `WATCH_EVERY` until none of
//!    the moves is in progress; the task's result shows the progress
//!    meanwhile (`{"state": "moving", "total", "done", "moving": [...]}`).
//! 5. The throttle configs are removed, whatever the outcome.
//!
//! A task cancelled while it runs (`cancel`) cancels its moves (Kafka puts
//! each partition back on the replicas it had) and removes the throttle.

use std::{collections::BTreeSet, sync::Arc, time::Duration};

use ferry_entity::payload::{
    BrokerRemovePayload, ConfigOp, ConfigOpKind, ConfigResource, PartitionReassignPayload,
    ReplicaTarget,
};
use ferry_service::{
    clusters,
    kafka::{
        KafkaCluster,
        admin::{self, ClusterDescription},
        wire::{WireTarget, reassignments},
    },
    tasks,
};
use serde_json::{Value, json};

use super::{JobContext, JobError};
use crate::kafka::{
    self as worker_kafka,
    wire::{
        WireError,
        reassign::{self, Move},
    },
};

pub mod plan;

/// How often the moves' progress is read.
const WATCH_EVERY: Duration = Duration::from_secs(2);
/// How long one Kafka request may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// The throttle configs a reassignment sets and removes.
const BROKER_RATES: [&str; 2] = [
    "leader.replication.throttled.rate",
    "follower.replication.throttled.rate",
];
const LEADER_REPLICAS: &str = "leader.replication.throttled.replicas";
const FOLLOWER_REPLICAS: &str = "follower.replication.throttled.replicas";

pub async fn run_partition_reassign(ctx: JobContext<'_>) -> Result<Value, JobError> {
    let payload: PartitionReassignPayload = ctx.task.payload().map_err(JobError::payload)?;
    let cluster = super::task_cluster(&ctx).await?;
    let described = describe(&cluster).await?;
    plan::check(&described, &payload.targets).map_err(JobError::Permanent)?;
    reassign(
        &ctx,
        &cluster,
        &described,
        payload.targets,
        payload.throttle_bytes_per_second,
    )
    .await
}

pub async fn run_broker_remove(ctx: JobContext<'_>) -> Result<Value, JobError> {
    let payload: BrokerRemovePayload = ctx.task.payload().map_err(JobError::payload)?;
    let cluster = super::task_cluster(&ctx).await?;
    let described = describe(&cluster).await?;
    // A retried attempt finds the broker already (partly) emptied: the plan
    // then holds only what is left on it.
    let targets = plan::removal(&described, payload.broker_id).map_err(JobError::Permanent)?;
    let mut result = reassign(
        &ctx,
        &cluster,
        &described,
        targets,
        payload.throttle_bytes_per_second,
    )
    .await?;
    result["broker_id"] = json!(payload.broker_id);
    Ok(result)
}

async fn describe(cluster: &Arc<KafkaCluster>) -> Result<ClusterDescription, JobError> {
    admin::describe_cluster(cluster, CALL_TIMEOUT)
        .await
        .map_err(|e| super::admin_error(format!("reading the cluster's metadata: {e}"), &e))
}

/// Steps 1 to 5 of the module doc.
async fn reassign(
    ctx: &JobContext<'_>,
    cluster: &Arc<KafkaCluster>,
    described: &ClusterDescription,
    targets: Vec<ReplicaTarget>,
    throttle: Option<u64>,
) -> Result<Value, JobError> {
    // Every move is sent, those already made too: Kafka takes a move to the
    // current replicas as done at once, and a retried attempt resends what
    // its predecessor may have started.
    let pending = targets;
    let total = pending.len();
    report(ctx, &pending, &[]).await;
    if pending.is_empty() {
        return Ok(json!({ "state": "done", "total": 0, "done": 0, "moved": [] }));
    }
    let target = controller(ctx, cluster, described).await?;
    if let Some(rate) = throttle {
        throttle_on(ctx, cluster, described, &pending, rate).await?;
    }
    let outcome = start_and_watch(ctx, &target, &pending).await;
    if throttle.is_some() {
        throttle_off(ctx, cluster, described, &pending).await;
    }
    outcome?;
    Ok(json!({
        "state": "done",
        "total": total,
        "done": total,
        "throttle_bytes_per_second": throttle,
        "moved": pending.iter().map(view).collect::<Vec<_>>(),
    }))
}

async fn start_and_watch(
    ctx: &JobContext<'_>,
    target: &WireTarget,
    pending: &[ReplicaTarget],
) -> Result<(), JobError> {
    let moves: Vec<Move> = pending
        .iter()
        .map(|t| Move {
            topic: t.topic.clone(),
            partition: t.partition,
            replicas: Some(t.replicas.clone()),
        })
        .collect();
    let outcomes = reassign::alter(target, &moves, CALL_TIMEOUT)
        .await
        .map_err(|e| wire_error("AlterPartitionReassignments", e))?;
    if let Some(refused) = outcomes.into_iter().find(|o| o.result.is_err()) {
        let err = refused.result.expect_err("found as an error");
        return Err(wire_error(
            &format!(
                "moving partition {} of topic {}",
                refused.partition, refused.topic
            ),
            err,
        ));
    }
    let topics = topics_of(pending);
    loop {
        let moving = reassignments::list(target, Some(topics.clone()), CALL_TIMEOUT)
            .await
            .map_err(|e| wire_error("ListPartitionReassignments", e))?;
        let ours: Vec<(String, i32)> = moving
            .iter()
            .filter(|r| {
                pending
                    .iter()
                    .any(|t| t.topic == r.topic && t.partition == r.partition)
            })
            .map(|r| (r.topic.clone(), r.partition))
            .collect();
        report(ctx, pending, &ours).await;
        if ours.is_empty() {
            return Ok(());
        }
        tokio::time::sleep(WATCH_EVERY).await;
    }
}

/// Writes the progress into the running task's result.
async fn report(ctx: &JobContext<'_>, pending: &[ReplicaTarget], moving: &[(String, i32)]) {
    let total = pending.len();
    let progress = json!({
        "state": "moving",
        "total": total,
        "done": total - moving.len().min(total),
        "moving": moving.iter().map(|(t, p)| json!({ "topic": t, "partition": p })).collect::<Vec<_>>(),
        "targets": pending.iter().map(view).collect::<Vec<_>>(),
    });
    if let Err(err) = tasks::report_progress(&ctx.store.db, &ctx.task.id, &progress).await {
        tracing::warn!(%err, "could not record a reassignment's progress");
    }
}

fn view(t: &ReplicaTarget) -> Value {
    json!({ "topic": t.topic, "partition": t.partition, "replicas": t.replicas })
}

fn topics_of(targets: &[ReplicaTarget]) -> Vec<(String, Vec<i32>)> {
    let mut topics: Vec<(String, Vec<i32>)> = Vec::new();
    for t in targets {
        match topics.iter_mut().find(|(name, _)| *name == t.topic) {
            Some((_, partitions)) => partitions.push(t.partition),
            None => topics.push((t.topic.clone(), vec![t.partition])),
        }
    }
    topics
}

/// Where the controller answers, with the cluster's connection settings.
async fn controller(
    ctx: &JobContext<'_>,
    cluster: &Arc<KafkaCluster>,
    described: &ClusterDescription,
) -> Result<WireTarget, JobError> {
    let id = cluster
        .id
        .ok_or_else(|| JobError::Permanent("reassignments need a registered cluster".into()))?;
    let conn = clusters::connection(ctx.store, id).await?;
    let mut target = WireTarget::new(&conn.settings, conn.sasl_password.as_ref());
    if let Some(b) = described.controller.and_then(|id| described.broker(id)) {
        target.bootstrap = vec![format!("{}:{}", b.host, b.port)];
    }
    Ok(target)
}

/// The brokers a move touches: its current and its new replicas.
fn involved(described: &ClusterDescription, pending: &[ReplicaTarget]) -> BTreeSet<i32> {
    let mut brokers = BTreeSet::new();
    for t in pending {
        brokers.extend(t.replicas.iter().copied());
        if let Some(current) = plan::current(described, &t.topic, t.partition) {
            brokers.extend(current.iter().copied());
        }
    }
    brokers
}

/// Each topic's throttled replica lists: the current replicas lead, the
/// added ones follow (`partition:broker,...`).
fn throttled_replicas(
    described: &ClusterDescription,
    pending: &[ReplicaTarget],
) -> Vec<(String, String, String)> {
    topics_of(pending)
        .into_iter()
        .map(|(topic, partitions)| {
            let mut leaders = Vec::new();
            let mut followers = Vec::new();
            for p in partitions {
                let current = plan::current(described, &topic, p)
                    .cloned()
                    .unwrap_or_default();
                let wanted = pending
                    .iter()
                    .find(|t| t.topic == topic && t.partition == p)
                    .map(|t| t.replicas.clone())
                    .unwrap_or_default();
                leaders.extend(current.iter().map(|b| format!("{p}:{b}")));
                followers.extend(
                    wanted
                        .iter()
                        .filter(|b| !current.contains(b))
                        .map(|b| format!("{p}:{b}")),
                );
            }
            (topic, leaders.join(","), followers.join(","))
        })
        .collect()
}

async fn throttle_on(
    ctx: &JobContext<'_>,
    cluster: &Arc<KafkaCluster>,
    described: &ClusterDescription,
    pending: &[ReplicaTarget],
    rate: u64,
) -> Result<(), JobError> {
    let set = |name: &str, value: String| ConfigOp {
        name: name.to_owned(),
        value: Some(value),
        sealed: None,
        operation: ConfigOpKind::Set,
    };
    for broker in involved(described, pending) {
        let ops = BROKER_RATES
            .iter()
            .map(|n| set(n, rate.to_string()))
            .collect();
        alter(ctx, cluster, ConfigResource::Broker(broker), ops).await?;
    }
    for (topic, leaders, followers) in throttled_replicas(described, pending) {
        let ops = vec![
            set(LEADER_REPLICAS, leaders),
            set(FOLLOWER_REPLICAS, followers),
        ];
        alter(ctx, cluster, ConfigResource::Topic(topic), ops).await?;
    }
    Ok(())
}

/// Removes the throttle; a failure is logged, not the task's: the moves
/// are done, and an operator can remove a leftover config by hand.
async fn throttle_off(
    ctx: &JobContext<'_>,
    cluster: &Arc<KafkaCluster>,
    described: &ClusterDescription,
    pending: &[ReplicaTarget],
) {
    let delete = |name: &str| ConfigOp {
        name: name.to_owned(),
        value: None,
        sealed: None,
        operation: ConfigOpKind::Delete,
    };
    let mut resources: Vec<(ConfigResource, Vec<ConfigOp>)> = involved(described, pending)
        .into_iter()
        .map(|b| {
            (
                ConfigResource::Broker(b),
                BROKER_RATES.iter().map(|n| delete(n)).collect(),
            )
        })
        .collect();
    for (topic, _, _) in throttled_replicas(described, pending) {
        resources.push((
            ConfigResource::Topic(topic),
            vec![delete(LEADER_REPLICAS), delete(FOLLOWER_REPLICAS)],
        ));
    }
    for (resource, ops) in resources {
        if let Err(err) = alter(ctx, cluster, resource.clone(), ops).await {
            tracing::warn!(?resource, %err, "could not remove a reassignment throttle");
        }
    }
}

async fn alter(
    ctx: &JobContext<'_>,
    cluster: &Arc<KafkaCluster>,
    resource: ConfigResource,
    ops: Vec<ConfigOp>,
) -> Result<(), JobError> {
    worker_kafka::alter_configs(ctx.store, cluster, resource.clone(), ops, CALL_TIMEOUT)
        .await
        .map_err(|err| {
            let message = format!("setting the reassignment throttle on {resource:?}: {err}");
            if err.is_retryable() {
                JobError::Retryable(message)
            } else {
                JobError::Permanent(message)
            }
        })
}

fn wire_error(doing: &str, err: WireError) -> JobError {
    let message = format!("{doing}: {err}");
    if err.is_retryable() {
        JobError::Retryable(message)
    } else {
        JobError::Permanent(message)
    }
}

/// Undoes what a cancelled task started: its moves are cancelled (Kafka
/// puts the partitions back) and the throttle removed. The moves are the
/// ones the task last reported; a task cancelled before it reported any
/// started none.
pub async fn cancel(ctx: JobContext<'_>) {
    let reported = match tasks::get(&ctx.store.db, &ctx.task.id).await {
        Ok(Some(task)) => task.result,
        _ => None,
    };
    let Some(targets) = reported
        .as_ref()
        .and_then(|r| serde_json::from_value::<Vec<ReplicaTarget>>(r["targets"].clone()).ok())
        .filter(|t| !t.is_empty())
    else {
        return;
    };
    let Ok(cluster) = super::task_cluster(&ctx).await else {
        return;
    };
    let Ok(described) = describe(&cluster).await else {
        tracing::warn!("could not read the cluster to cancel a reassignment");
        return;
    };
    if let Ok(target) = controller(&ctx, &cluster, &described).await {
        let moves: Vec<Move> = targets
            .iter()
            .map(|t| Move {
                topic: t.topic.clone(),
                partition: t.partition,
                replicas: None,
            })
            .collect();
        match reassign::alter(&target, &moves, CALL_TIMEOUT).await {
            Ok(_) => tracing::info!(moves = moves.len(), "reassignment cancelled"),
            Err(err) => tracing::warn!(%err, "could not cancel a reassignment"),
        }
    }
    throttle_off(&ctx, &cluster, &described, &targets).await;
}
