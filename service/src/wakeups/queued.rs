//! The process-wide "jobs were queued" signal: submission raises it after
//! every commit that queues tasks, and the worker's claim loop in the same
//! process (`ferry-api --with-worker`) claims as soon as it moves, instead
//! of at its next poll.

use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{Notify, futures::Notified};

/// How many times jobs were queued, and the waiters to wake. A worker
/// fetches when the count moved since it last looked, so a submission that
/// lands while it is busy fetching is not missed.
pub struct QueuedSignal {
    count: AtomicU64,
    notify: Notify,
}

impl Default for QueuedSignal {
    fn default() -> Self {
        Self::new()
    }
}

impl QueuedSignal {
    pub const fn new() -> QueuedSignal {
        QueuedSignal {
            count: AtomicU64::new(0),
            notify: Notify::const_new(),
        }
    }

    pub fn raise(&self) {
        self.count.fetch_add(1, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    /// How many times jobs were queued so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::SeqCst)
    }

    /// Resolves at the next [`raise`](Self::raise). Register it before
    /// reading [`count`](Self::count), so that no raise falls between.
    pub fn notified(&self) -> Notified<'_> {
        self.notify.notified()
    }
}

/// This process's signal: what its workers' poll strategies listen to.
static QUEUED: QueuedSignal = QueuedSignal::new();

/// The signal of this process.
pub fn process_signal() -> &'static QueuedSignal {
    &QUEUED
}

/// Tells this process's workers that jobs were queued.
pub fn jobs_queued() {
    QUEUED.raise();
}
