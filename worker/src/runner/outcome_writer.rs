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
    outcome::{self, Backoff, Settled},
};
use crate::jobs::JobError;
use ferry_service::store::Store;

/// Outcomes written per transaction, at most.
const MAX_GROUP: usize = 256;

/// How one attempt ended: its task, the job's answer and its duration in
/// seconds.
pub(super) type Outcome = (Model, Result<Value, JobError>, f64);

pub(super) type OutcomeWriter = GroupCommit<Outcome, Settled>;

/// Starts the writer; it ends when dropped.
pub(super) fn start(store: Store, backoff: Backoff) -> OutcomeWriter {
    GroupCommit::start("attempt outcomes", MAX_GROUP, move |outcomes| {
        let store = store.clone();
        async move {
            let (finished, settled) = write(&store, outcomes, backoff).await?;
            store.wakeups.tasks_finished(finished);
            Ok(settled)
        }
    })
}

/// Writes every outcome, in one transaction when any is not a success;
/// returns the ids of the tasks that reached a final status and what
/// became of each.
async fn write(
    store: &Store,
    outcomes: Vec<Outcome>,
    backoff: Backoff,
) -> Result<(Vec<String>, Vec<Settled>), DbErr> {
    let ids: Vec<String> = outcomes
        .iter()
        .map(|(task, _, _)| task.id.clone())
        .collect();
    // Successes alone are one statement per 200 (`tasks::succeed_many`),
    // which needs no transaction around it: a group that fails part-way is
    // written again whole, and a success already written is left as it is.
    // That saves two round trips on the drain's most frequent write.
    let settled = if outcomes.iter().all(|(_, result, _)| result.is_ok()) {
        outcome::settle_all(&store.db, outcomes, backoff).await?
    } else {
        let txn = store.db.begin().await?;
        let settled = outcome::settle_all(&txn, outcomes, backoff).await?;
        txn.commit().await?;
        settled
    };
    let finished = ids
        .into_iter()
        .zip(&settled)
        .filter(|(_, s)| !matches!(s, Settled::Retrying(_)))
        .map(|(id, _)| id)
        .collect();
    Ok((finished, settled))
}
