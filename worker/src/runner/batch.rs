//! Jobs that run several tasks together: the claimed tasks of one batch
//! key, an addTopicTask request's or a bulk `POST /api/v1/tasks` list's. One broker call creates their topics
//! (other kinds run side by side), and one transaction records every
//! task's own outcome (one statement for all the successes). A task whose
//! attempt failed and will be retried goes back into the queue on its own,
//! after its backoff.

use std::collections::BTreeMap;

use ferry_entity::{ClusterId, TaskKind, task::Model};
use sea_orm::TransactionTrait;
use serde_json::Value;

use super::{
    WorkerState, fetch,
    outcome::{self, Settled},
};
use crate::jobs::{self, JobContext, JobError, topic_create};
use ferry_service::tasks::policy;

pub(super) async fn run_batch(state: &WorkerState, job: &mut fetch::ClaimedJob) {
    let claimed = std::mem::take(&mut job.tasks);
    let started = std::time::Instant::now();
    let mut outcomes: Vec<(Model, Result<Value, JobError>)> = Vec::with_capacity(claimed.len());
    let mut runnable = Vec::with_capacity(claimed.len());
    for task in claimed {
        if task.attempts > task.max_attempts {
            let exhausted = outcome::exhausted(&task);
            outcomes.push((task, Err(exhausted)));
        } else if !runs_in_batch(task.kind) {
            let reason = format!("kind `{}` cannot run in a batch", task.kind);
            outcomes.push((task, Err(JobError::Permanent(reason))));
        } else {
            runnable.push(task);
        }
    }
    tracing::info!(tasks = runnable.len(), "batch attempt started");
    let timeout = runnable
        .iter()
        .map(|t| policy::of(t.kind).attempt_timeout)
        .max()
        .unwrap_or_default();
    match tokio::time::timeout(timeout, run_tasks(state, &runnable)).await {
        Ok(results) => outcomes.extend(runnable.into_iter().zip(results)),
        Err(_) => {
            for task in runnable {
                let err = JobError::TimedOut(timeout);
                outcomes.push((task, Err(err)));
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    job.attempt_ended();

    // Every task's outcome, in one transaction: one commit instead of one
    // per task is what makes batches fast on SQLite and PostgreSQL alike.
    let total = outcomes.len();
    let outcomes: Vec<_> = outcomes
        .into_iter()
        .map(|(task, result)| (task, result, elapsed))
        .collect();
    let written = state
        .until_stored("a batch's outcomes", || async {
            let txn = state.store.db.begin().await?;
            let settled = outcome::settle_all(&txn, outcomes.clone(), state.backoff).await?;
            txn.commit().await?;
            Ok(settled)
        })
        .await;
    let Some(settlement) = written else {
        return;
    };
    let retrying = settlement
        .wake(&state.store.wakeups)
        .into_iter()
        .filter(|settled| matches!(settled, Settled::Retrying(_)))
        .count();
    if retrying == 0 {
        tracing::info!(tasks = total, elapsed_s = elapsed, "batch attempt finished");
    } else {
        tracing::warn!(
            tasks = total,
            retrying,
            elapsed_s = elapsed,
            "batch attempt partly failed; the failed tasks will be retried"
        );
    }
}

/// The kinds whose tasks may share a batch key: topic creation (one broker
/// call for the batch) and `ping` (a bulk list's no-op tasks).
fn runs_in_batch(kind: TaskKind) -> bool {
    matches!(kind, TaskKind::TopicCreate | TaskKind::Ping)
}

/// Runs the claimed tasks and answers in their order: topic creations
/// together, every other task as its own job, side by side.
async fn run_tasks(state: &WorkerState, tasks: &[Model]) -> Vec<Result<Value, JobError>> {
    let (topics, others): (Vec<usize>, Vec<usize>) =
        (0..tasks.len()).partition(|&i| tasks[i].kind == TaskKind::TopicCreate);
    let mut answers: Vec<Option<Result<Value, JobError>>> =
        (0..tasks.len()).map(|_| None).collect();
    if !topics.is_empty() {
        let topic_tasks: Vec<Model> = topics.iter().map(|&i| tasks[i].clone()).collect();
        for (i, answer) in topics
            .into_iter()
            .zip(create_topics(state, &topic_tasks).await)
        {
            answers[i] = Some(answer);
        }
    }
    let ran = futures::future::join_all(others.iter().map(|&i| {
        jobs::execute(JobContext {
            store: &state.store,
            task: &tasks[i],
            resources: &state.resources,
        })
    }))
    .await;
    for (i, answer) in others.into_iter().zip(ran) {
        answers[i] = Some(answer);
    }
    answers
        .into_iter()
        .map(|a| a.unwrap_or_else(|| Err(JobError::Retryable("no outcome".into()))))
        .collect()
}

/// Creates the topics of the claimed tasks, grouped by cluster (a request has
/// one), and answers in the tasks' order.
async fn create_topics(state: &WorkerState, tasks: &[Model]) -> Vec<Result<Value, JobError>> {
    let mut answers: Vec<Option<Result<Value, JobError>>> =
        (0..tasks.len()).map(|_| None).collect();
    let mut by_cluster: BTreeMap<Option<ClusterId>, Vec<usize>> = BTreeMap::new();
    for (i, task) in tasks.iter().enumerate() {
        by_cluster.entry(task.cluster_id).or_default().push(i);
    }
    for indexes in by_cluster.into_values() {
        let first = &tasks[indexes[0]];
        let ctx = JobContext {
            store: &state.store,
            task: first,
            resources: &state.resources,
        };
        let cluster = match jobs::task_cluster(&ctx).await {
            Ok(c) => c,
            Err(err) => {
                for &i in &indexes {
                    answers[i] = Some(Err(err.clone()));
                }
                continue;
            }
        };
        let mut specs = Vec::new();
        let mut spec_indexes = Vec::new();
        for &i in &indexes {
            match topic_create::spec_of(&tasks[i]) {
                Ok(spec) => {
                    specs.push(spec);
                    spec_indexes.push(i);
                }
                Err(err) => answers[i] = Some(Err(err)),
            }
        }
        let results = state.resources.topics.create_all(cluster, specs).await;
        for (i, result) in spec_indexes.into_iter().zip(results) {
            answers[i] = Some(result);
        }
    }
    answers
        .into_iter()
        .map(|a| a.unwrap_or_else(|| Err(JobError::Retryable("no outcome".into()))))
        .collect()
}
