//! Whether a cluster answered its last live read, for the views that list
//! every cluster (TubeMQ's `GET /v1/cluster`, Confluent's `GET
//! /v3/clusters`).
//!
//! A list asks every cluster at once and answers when the slowest has, so a
//! cluster whose brokers are down held every list for a whole inspection
//! timeout (5 s), on every call, for as long as it stayed down: a portal
//! polling the list waited 5 s each time for one dead entry. Kafbat and
//! similar consoles show a cluster's last known state instead. Here a
//! cluster that did not answer a list's read is listed as unreachable at
//! once for [`REMEMBERED`], with the reason it gave; meanwhile a list that
//! answers from memory starts a probe in the background (one at a time, at
//! most every [`PROBE_EVERY`]), whose answer replaces the memory, so a
//! cluster that comes back is listed with its live state by the list after
//! the probe. Once the memory is older than [`REMEMBERED`] (nobody listed
//! meanwhile), the next list asks the cluster itself again.
//!
//! Only the lists use it: a call about one cluster (its topics, a plan)
//! always asks it, so that it never answers from a stale memory.

use std::{
    future::Future,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use super::{KafkaCluster, metadata};

/// How long a cluster that did not answer is listed as unreachable without
/// a list asking it again.
pub const REMEMBERED: Duration = Duration::from_secs(30);

/// How soon after the last answer (or failure) a list that answers from
/// memory starts a probe in the background.
pub const PROBE_EVERY: Duration = Duration::from_secs(2);

/// How long a background probe waits for the cluster's Metadata answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// A cluster's last failure to answer, and whether a probe is running.
#[derive(Default)]
pub struct Reachability {
    failed: Mutex<Option<Failure>>,
    probing: AtomicBool,
}

struct Failure {
    at: Instant,
    reason: String,
}

impl Reachability {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Failure>> {
        // Every write replaces the whole value, so a poisoned lock's data is
        // still whole.
        self.failed.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn record<T>(&self, outcome: &Result<T, String>) {
        *self.lock() = outcome.as_ref().err().map(|reason| Failure {
            at: Instant::now(),
            reason: reason.clone(),
        });
    }

    /// The remembered failure, when recent, and whether a probe is due.
    fn remembered(&self) -> Option<(String, bool)> {
        let failed = self.lock();
        let failure = failed.as_ref()?;
        let age = failure.at.elapsed();
        if age >= REMEMBERED {
            return None;
        }
        Some((
            format!(
                "{} (as of {} s ago; asked again in the background)",
                failure.reason,
                age.as_secs()
            ),
            age >= PROBE_EVERY,
        ))
    }
}

/// A list's live read of `cluster`: `read`'s answer, remembered; or, while
/// the cluster's last failure to answer is recent, that failure at once,
/// with a probe started in the background when one is due.
pub async fn listed_read<T>(
    cluster: &Arc<KafkaCluster>,
    read: impl Future<Output = Result<T, String>>,
) -> Result<T, String> {
    if let Some((reason, probe_due)) = cluster.reachability.remembered() {
        if probe_due && !cluster.reachability.probing.swap(true, Ordering::AcqRel) {
            let cluster = cluster.clone();
            tokio::spawn(async move {
                let answer = metadata::snapshot(&cluster, None, PROBE_TIMEOUT)
                    .await
                    .map(drop)
                    .map_err(|e| format!("cluster unreachable: {e}"));
                cluster.reachability.record(&answer);
                cluster.reachability.probing.store(false, Ordering::Release);
            });
        }
        return Err(reason);
    }
    let answer = read.await;
    cluster.reachability.record(&answer);
    answer
}
