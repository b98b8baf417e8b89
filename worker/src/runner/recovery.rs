//! Riding out a metadata-store outage.
//!
//! A claim or an outcome that the store refuses (as when PostgreSQL restarts
//! and terminates every connection) is an outage, not a reason to exit: the
//! claim loop (`fetch`) and the outcome writes (`WorkerState::until_stored`)
//! wait here until the store answers again, then carry on. Only a shutdown
//! signal ends the process.

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
