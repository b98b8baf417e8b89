//! Attempt outcomes, written by group commit (`ferry_service::group_commit`): the outcomes
//! of attempts that end at about the same moment share one transaction, and
//! their successes one statement. Once it commits, the finished tasks are
//! announced (`wakeups`: here all, to the other processes those a caller
//! waits on and the failures), which ends the wait of an API call on one of
//! them at once.

use ferry_entity::task::Model;
use sea_orm::{DbErr, TransactionTrait};
use serde_json::Value;

use super::outcome::{self, Backoff, Settled, Settlement};
use crate::jobs::JobError;
use ferry_service::{group_commit::GroupCommit, store::Store};

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
            let settlement = write(&store, outcomes, backoff).await?;
            Ok(settlement.wake(&store.wakeups))
        }
    })
}

/// Writes every outcome, in one transaction when any is not a success.
async fn write(
    store: &Store,
    outcomes: Vec<Outcome>,
    backoff: Backoff,
) -> Result<Settlement, DbErr> {
    // Successes alone are one statement per 200 (`tasks::succeed_many`),
    // which needs no transaction around it: a group that fails part-way is
    // written again whole, and a success already written is left as it is.
    // That saves two round trips on the drain's most frequent write.
    if outcomes.iter().all(|(_, result, _)| result.is_ok()) {
        outcome::settle_all(&store.queue_db, outcomes, backoff).await
    } else {
        let txn = store.queue_db.begin().await?;
        let settlement = outcome::settle_all(&txn, outcomes, backoff).await?;
        txn.commit().await?;
        Ok(settlement)
    }
}
