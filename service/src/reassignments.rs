//! Recording replica moves: `partition.reassign` (given moves) and
//! `broker.remove` (every replica off one broker, planned when the task
//! runs). One at a time per cluster: a move's throttle is set on brokers
//! and topics, and two moves' throttles would overwrite each other's.
//! What the moves name is checked against the cluster by the job
//! (`ferry_worker::jobs::reassign`), which reads it anyway.

use ferry_entity::{
    ClusterId, TaskKind,
    payload::{BrokerRemovePayload, PartitionReassignPayload, ReplicaTarget},
    task,
};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::{
    error::ServiceError,
    store::Store,
    tasks::{self, NewTask, Requester, Task, submit::Submission},
};

/// The most partitions one reassignment names.
pub const MAX_TARGETS: usize = 10_000;

const KINDS: [TaskKind; 2] = [TaskKind::PartitionReassign, TaskKind::BrokerRemove];

fn lock_name(cluster_id: ClusterId) -> String {
    format!("reassign:{cluster_id}")
}

/// Records a `partition.reassign` task.
pub async fn submit_reassignment(
    store: &Store,
    cluster_id: ClusterId,
    targets: Vec<ReplicaTarget>,
    throttle_bytes_per_second: Option<u64>,
    who: &Requester,
) -> Result<Task, ServiceError> {
    if targets.is_empty() || targets.len() > MAX_TARGETS {
        return Err(ServiceError::invalid(format!(
            "a reassignment names 1 to {MAX_TARGETS} partitions, not {}",
            targets.len()
        )));
    }
    for t in &targets {
        let mut brokers = t.replicas.clone();
        brokers.sort_unstable();
        brokers.dedup();
        if t.replicas.is_empty() || brokers.len() != t.replicas.len() || brokers[0] < 0 {
            return Err(ServiceError::invalid(format!(
                "partition {} of topic {}: replicas must be distinct broker ids, at least one",
                t.partition, t.topic
            )));
        }
    }
    check_throttle(throttle_bytes_per_second)?;
    let subject = format!("{} partitions", targets.len());
    let payload = PartitionReassignPayload {
        targets,
        throttle_bytes_per_second,
    };
    record(
        store,
        cluster_id,
        NewTask::new(TaskKind::PartitionReassign, &payload, who),
        subject,
    )
    .await
}

/// Records a `broker.remove` task.
pub async fn submit_broker_removal(
    store: &Store,
    cluster_id: ClusterId,
    broker_id: i32,
    throttle_bytes_per_second: Option<u64>,
    who: &Requester,
) -> Result<Task, ServiceError> {
    check_throttle(throttle_bytes_per_second)?;
    let payload = BrokerRemovePayload {
        broker_id,
        throttle_bytes_per_second,
    };
    record(
        store,
        cluster_id,
        NewTask::new(TaskKind::BrokerRemove, &payload, who),
        format!("broker {broker_id}"),
    )
    .await
}

fn check_throttle(throttle: Option<u64>) -> Result<(), ServiceError> {
    match throttle {
        Some(0) => Err(ServiceError::invalid(
            "a throttle of 0 bytes per second would stop the moves; leave it out for none",
        )),
        _ => Ok(()),
    }
}

async fn record(
    store: &Store,
    cluster_id: ClusterId,
    new: NewTask,
    subject: String,
) -> Result<Task, ServiceError> {
    let submission = Submission::begin(store).await?;
    submission.lock(&lock_name(cluster_id)).await?;
    let busy = task::Entity::find()
        .filter(task::Column::ClusterId.eq(cluster_id))
        .filter(task::Column::Kind.is_in(KINDS))
        .filter(tasks::in_progress())
        .one(submission.txn())
        .await?;
    if let Some(busy) = busy {
        return Err(ServiceError::busy(
            format!(
                "a {} task on this cluster is in progress ({}); one reassignment runs at a time",
                busy.kind.as_str(),
                busy.id
            ),
            vec![busy.id],
        ));
    }
    let new = new.on_cluster(cluster_id).about(subject);
    let mut recorded = submission.record(vec![new], 1).await?;
    submission.commit().await?;
    Ok(recorded.remove(0))
}

/// The latest `broker.remove` task of each broker of a cluster, in broker
/// order.
pub async fn broker_removals(
    store: &Store,
    cluster_id: ClusterId,
) -> Result<Vec<(i32, Task)>, ServiceError> {
    let rows = task::Entity::find()
        .filter(task::Column::ClusterId.eq(cluster_id))
        .filter(task::Column::Kind.eq(TaskKind::BrokerRemove))
        .all(&store.db)
        .await?;
    let mut latest: Vec<(i32, Task)> = Vec::new();
    for row in rows {
        let Ok(payload) = row.payload::<BrokerRemovePayload>() else {
            continue;
        };
        match latest.iter_mut().find(|(b, _)| *b == payload.broker_id) {
            Some((_, kept)) if kept.created_at >= row.created_at => {}
            Some((_, kept)) => *kept = row,
            None => latest.push((payload.broker_id, row)),
        }
    }
    latest.sort_by_key(|(b, _)| *b);
    Ok(latest)
}
