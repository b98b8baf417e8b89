//! Claims of single-task jobs, written by group commit (`group_commit`): the
//! attempts apalis starts at about the same moment (a fetch hands out up to
//! the worker's concurrency at once) are claimed by one statement
//! (`tasks::claim_each`) instead of one commit each.

use ferry_service::{
    store::Store,
    tasks::{self, Claim},
};

use super::group_commit::GroupCommit;

/// Claims per statement, at most: one bound value each.
const MAX_GROUP: usize = 512;

pub(super) type ClaimWriter = GroupCommit<String, Claim>;

/// Starts the writer for the worker named `worker`; it ends when dropped.
pub(super) fn start(store: Store, worker: String) -> ClaimWriter {
    GroupCommit::start("task claims", MAX_GROUP, move |ids: Vec<String>| {
        let store = store.clone();
        let worker = worker.clone();
        async move { tasks::claim_each(&store.db, &ids, &worker).await }
    })
}
