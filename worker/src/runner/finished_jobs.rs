//! Finished jobs leave the queue (`submit::remove_jobs`), by group commit
//! (`group_commit`): the jobs that end at about the same moment are removed
//! by one statement. The runner does not wait for it: the task's outcome is
//! committed before, and a row left behind (a failed write, a crash just
//! then) only costs a job that finds its tasks finished when a dead
//! worker's jobs are handed to another.

use ferry_service::{store::Store, tasks::submit};

use super::group_commit::GroupCommit;

/// Jobs removed per statement, at most: one bound value each.
const MAX_GROUP: usize = 512;

/// Takes the keys of finished jobs.
pub(super) type FinishedJobs = GroupCommit<String, ()>;

/// Starts the writer; it ends when dropped.
pub(super) fn start(store: Store) -> FinishedJobs {
    GroupCommit::start("finished jobs", MAX_GROUP, move |keys: Vec<String>| {
        let store = store.clone();
        async move {
            let count = keys.len();
            submit::remove_jobs(&store.db, keys).await?;
            Ok(vec![(); count])
        }
    })
}
