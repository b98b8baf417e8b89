//! A worker's heartbeat, and the hand-over of a lost worker's tasks.
//!
//! Every `heartbeat_seconds` a worker records that it is alive
//! (`queue::heartbeat`) and then looks for workers whose heartbeat is
//! older than `missed_heartbeats` beats: their running tasks go back into
//! the queue, due now, and their registrations are removed
//! (`queue::release_lost`), so that a killed worker's attempts are run
//! again elsewhere. Every worker looks; two looking together release a task
//! once. A store error skips a beat: the next one tries again.
//!
//! A worker looks only once its own heartbeats have gone through for a
//! whole allowance: after a store outage every worker's heartbeat is old,
//! and the first one back would otherwise take every other live worker for
//! lost and have their attempts run a second time.

use std::time::{Duration, Instant};

use ferry_service::{store::Store, tasks::queue};

/// Beats until the process ends (the task is dropped with the runtime).
pub(super) async fn beat(store: Store, worker: String, every: Duration, missed: usize) {
    let allowance = every * missed.max(1) as u32;
    let lost_after = chrono::Duration::from_std(allowance).unwrap_or(chrono::Duration::seconds(15));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut beating_since = Instant::now();
    loop {
        tick.tick().await;
        if let Err(err) = queue::heartbeat(&store.db, &worker).await {
            tracing::debug!(worker, error = %err, "heartbeat failed");
            beating_since = Instant::now();
            continue;
        }
        if beating_since.elapsed() < allowance {
            continue;
        }
        match queue::release_lost(&store.db, lost_after).await {
            Ok((lost, released)) if !lost.is_empty() => {
                tracing::warn!(
                    worker,
                    lost = ?lost,
                    "lost workers' tasks queued again: {}",
                    released.len()
                );
                if !released.is_empty() {
                    store.wakeups.jobs_queued();
                }
            }
            Ok(_) => {}
            Err(err) => {
                tracing::warn!(worker, error = %err, "releasing lost workers' tasks failed")
            }
        }
    }
}
