//! The drift watch: every worker looks for watched changesets due for a
//! check and submits a `changeset.drift` task for each it claims (one
//! conditional update per changeset, so one worker among many does).

use std::time::Duration;

use ferry_service::{changesets, error::ErrorKind, store::Store, tasks::Requester};

/// Who drift checks are recorded for.
const WATCHER: &str = "drift-watch";

pub async fn watch(store: Store, interval: Duration) {
    let mut tick =
        tokio::time::interval(interval.clamp(Duration::from_secs(1), Duration::from_secs(5)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let due = match changesets::claim_due_drift(&store, interval).await {
            Ok(due) => due,
            Err(err) => {
                tracing::warn!(error = %err.detail(), "looking for changesets due for a drift check failed");
                continue;
            }
        };
        for model in due {
            let who = Requester {
                created_by: WATCHER.to_owned(),
                request_id: None,
                project_id: model.project_id.clone(),
            };
            match changesets::submit_drift(&store, &model, &who).await {
                Ok(_) => {}
                // The previous check is still running: it will do.
                Err(err) if err.kind() == ErrorKind::Busy => {}
                Err(err) => {
                    tracing::warn!(changeset = %model.id, error = %err.detail(), "submitting a drift check failed")
                }
            }
        }
    }
}
