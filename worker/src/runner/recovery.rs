//! Riding out a metadata-store outage.
//!
//! apalis ends a worker's future when its backend fails (a heartbeat, a fetch
//! or an acknowledgement that the store refuses, as when PostgreSQL restarts
//! and terminates every connection), and its monitor then ends too. The
//! runner treats such an end as an outage, not as a reason to exit: it waits
//! here until the store answers again, then builds a new apalis worker. Only
//! a shutdown signal ends the process.

use std::time::{Duration, Instant};

use backon::{BackoffBuilder, ExponentialBuilder};
use ferry_service::store::Store;
use tokio_util::sync::CancellationToken;

/// The first pause between two probes of a store that is down; it doubles
/// up to [`MAX_PAUSE`], so that a long outage costs a probe every few
/// seconds, and a short one (a restart) is noticed within a second.
const FIRST_PAUSE: Duration = Duration::from_millis(250);
const MAX_PAUSE: Duration = Duration::from_secs(5);

/// Waits until the store answers. Returns false when `stop` fired first.
/// Logs when the store is found down and when it is back, with how long it
/// was away, so that an operator sees the outage and the recovery.
pub(super) async fn wait_for_store(store: &Store, worker: &str, stop: &CancellationToken) -> bool {
    let since = Instant::now();
    let mut backoff = ExponentialBuilder::default()
        .with_min_delay(FIRST_PAUSE)
        .with_max_delay(MAX_PAUSE)
        .without_max_times()
        .with_jitter()
        .build();
    let mut probes = 0u32;
    loop {
        if stop.is_cancelled() {
            return false;
        }
        if store.is_reachable().await {
            tracing::info!(
                worker,
                down_for_s = since.elapsed().as_secs_f64(),
                probes,
                "metadata store reachable; task worker resumes claiming"
            );
            return true;
        }
        let pause = backoff.next().unwrap_or(MAX_PAUSE);
        if probes == 0 {
            tracing::warn!(
                worker,
                "metadata store unreachable; task worker paused, retrying with backoff"
            );
        } else {
            tracing::debug!(
                worker,
                probes,
                retry_in_ms = pause.as_millis() as u64,
                "metadata store still unreachable"
            );
        }
        probes += 1;
        tokio::select! {
            () = stop.cancelled() => return false,
            () = tokio::time::sleep(pause) => {}
        }
    }
}

/// The apalis name of the `run`th worker this process builds. apalis
/// registers a worker under its name and refuses a name whose registration
/// may still be held (an advisory lock of a connection that has not yet
/// noticed the outage), so each rebuild takes a name of its own. The task
/// rows keep the process's name: that is what `worker` shows to users.
pub(super) fn apalis_name(process: &str, run: u32) -> String {
    if run == 0 {
        process.to_owned()
    } else {
        format!("{process}-r{run}")
    }
}
