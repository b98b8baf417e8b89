//! The lease fence: when an engine must stop writing downstream.
//!
//! A worker holds a changefeed's lease until `lease_until`, which it sets to
//! "now + lease" at each renewal; once that time passes, another worker may
//! take the changefeed over (and a pause counts it as released). A worker cut
//! off from the metadata store cannot renew, and does not learn that it lost
//! the lease, so its engine must stop on its own clock before anyone else can
//! start: the fence is the instant of the last successful renewal (taken
//! before the renewal was sent, so never later than the `lease_until` it
//! wrote minus the lease) plus the lease minus a margin. The engine checks
//! the fence before every downstream write and stops (rolling back what is in
//! flight) when it passes; the margin leaves time for that rollback and for
//! clock skew between workers.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::time::Instant;

use super::engine::ReplicationError;

/// Shared by the supervisor, which moves it forward at each renewal, and the
/// engine, which stops writing once it passes.
#[derive(Debug, Clone)]
pub struct Fence {
    renewed_at: Arc<Mutex<Instant>>,
    hold: Duration,
}

impl Fence {
    /// A fence for a lease of `lease` taken or renewed at `at` (an instant
    /// read before the statement was sent).
    pub fn new(at: Instant, lease: Duration) -> Fence {
        Fence {
            renewed_at: Arc::new(Mutex::new(at)),
            hold: lease.saturating_sub(margin(lease)),
        }
    }

    /// Records a successful renewal sent at `at`.
    pub fn renewed(&self, at: Instant) {
        let mut last = self.renewed_at.lock().unwrap_or_else(|p| p.into_inner());
        if at > *last {
            *last = at;
        }
    }

    /// The instant after which the engine must not write.
    pub fn deadline(&self) -> Instant {
        *self.renewed_at.lock().unwrap_or_else(|p| p.into_inner()) + self.hold
    }

    /// Whether writing is still allowed.
    pub fn holds(&self) -> bool {
        Instant::now() < self.deadline()
    }

    /// `Err(Fenced)` once writing is no longer allowed: what the engine
    /// calls before each downstream write.
    pub fn check(&self) -> Result<(), ReplicationError> {
        if self.holds() {
            Ok(())
        } else {
            Err(ReplicationError::Fenced)
        }
    }

    /// Resolves once the fence has passed without a renewal moving it.
    pub async fn passed(&self) {
        loop {
            let deadline = self.deadline();
            if Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep_until(deadline).await;
        }
    }
}

/// A quarter of the lease, and at least 200 ms: the supervisor renews every
/// third of the lease (at most every second), so a fence that holds three
/// quarters of the lease is never reached while renewals succeed.
pub fn margin(lease: Duration) -> Duration {
    (lease / 4).max(Duration::from_millis(200)).min(lease / 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_fence_passes_before_the_lease_ends_unless_renewed() {
        let lease = Duration::from_millis(1600);
        // The margin is 400 ms, so writing stops 1.2 s after a renewal.
        let fence = Fence::new(Instant::now(), lease);
        assert!(fence.check().is_ok());
        tokio::time::sleep(Duration::from_millis(600)).await;
        let renewed = Instant::now();
        fence.renewed(renewed);
        tokio::time::sleep(Duration::from_millis(800)).await;
        assert!(fence.holds(), "the renewal moved the fence past 1.2 s");
        fence.passed().await;
        let waited = renewed.elapsed();
        assert!(
            waited >= Duration::from_millis(1200) && waited < lease,
            "the fence passed {waited:?} after the renewal, before the lease ended"
        );
        assert!(matches!(fence.check(), Err(ReplicationError::Fenced)));
        // An older renewal, answered late, does not move the fence back.
        fence.renewed(renewed - Duration::from_secs(30));
        assert!(!fence.holds());
    }
}
