//! Attempt outcomes, written by group commit (`group_commit`): the outcomes
//! of attempts that end at about the same moment share one transaction, and
//! their successes one statement. Once it commits, the finished tasks are
//! announced (`wakeups`), which ends the wait of an API call on one
//! of them at once.

use ferry_entity::task::Model;
use sea_orm::{DbErr, TransactionTrait};
use serde_json::Value;

use super::{
    group_commit::GroupCommit,
    outcome::{self, Settled},
    record,
};
use crate::jobs::JobError;
use ferry_service::{store::Store, tasks};

/// Outcomes written per transaction, at most.
const MAX_GROUP: usize = 256;

/// How one attempt ended: its task, the job's answer and its duration in
/// seconds.
pub(super) type Outcome = (Model, Result<Value, JobError>, f64);

pub(super) type OutcomeWriter = GroupCommit<Outcome, Settled>;

/// Starts the writer; it ends when dropped.
pub(super) fn start(store: Store) -> OutcomeWriter {
    GroupCommit::start("attempt outcomes", MAX_GROUP, move |outcomes| {
        let store = store.clone();
        async move {
            let (finished, settled) = write(&store, outcomes).await?;
            store.wakeups.tasks_finished(finished);
            Ok(settled)
        }
    })
}

/// Writes every outcome in one transaction, all or nothing; returns the ids
/// of the tasks that reached a final status and what became of each.
async fn write(
    store: &Store,
    outcomes: Vec<Outcome>,
) -> Result<(Vec<String>, Vec<Settled>), DbErr> {
    let txn = store.db.begin().await?;
    let mut settled = Vec::with_capacity(outcomes.len());
    let mut succeeded = Vec::new();
    let mut finished = Vec::new();
    for (task, outcome, elapsed) in outcomes {
        let answer = match outcome {
            Ok(result) => {
                record(task.kind, "succeeded", elapsed);
                succeeded.push((task.id.clone(), result));
                Settled::Succeeded
            }
            Err(err) => outcome::settle(&txn, &task, Err(err), elapsed).await?,
        };
        if !matches!(answer, Settled::Retrying(_)) {
            finished.push(task.id);
        }
        settled.push(answer);
    }
    tasks::succeed_many(&txn, succeeded).await?;
    txn.commit().await?;
    Ok((finished, settled))
}
