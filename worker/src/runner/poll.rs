//! The queue poll interval, as an apalis poll strategy.
//!
//! apalis-core 1.0's `IntervalStrategy` (what `poll_with_interval` builds)
//! replaces its timer when it fires but does not poll the new one, so the new
//! timer holds no waker. When the fetch that the firing started takes longer
//! than the interval, the next call finds that timer already expired, fires
//! again and leaves yet another unpolled timer behind; if that fetch finds
//! nothing, nothing wakes the worker until its next heartbeat. Measured here:
//! with a 10 ms or 25 ms interval the worker picked up nothing for 4.7 s (the
//! 5 s heartbeat) after ten jobs were queued. This strategy polls each new
//! timer as soon as it creates it, so a waker is always registered.
//!
//! The strategy also fetches as soon as jobs are queued: submission in this
//! process (`ferry-api --with-worker`) raises the process's signal directly,
//! and one in another process reaches it through `ferry_service::wakeups`,
//! whose listener raises the same signal when it hears the announcement.
//! Any wake makes apalis fetch.

use std::{
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use apalis::prelude::{PollSnapshot, PollStrategy};
use ferry_service::wakeups::queued::{self, QueuedSignal};
use tokio::{
    sync::futures::Notified,
    time::{Instant, Sleep},
};

pub(super) struct EveryInterval {
    every: Duration,
    timer: Pin<Box<Sleep>>,
    signal: &'static QueuedSignal,
    queued: Pin<Box<Notified<'static>>>,
    /// The signal's count when this worker last fetched because of it.
    seen: u64,
}

impl EveryInterval {
    pub(super) fn new(every: Duration) -> EveryInterval {
        EveryInterval::listening_to(every, queued::process_signal())
    }

    /// Tests give each strategy a signal of its own: tests run in parallel
    /// and would otherwise wake each other's.
    fn listening_to(every: Duration, signal: &'static QueuedSignal) -> EveryInterval {
        EveryInterval {
            every,
            timer: Box::pin(tokio::time::sleep(every)),
            signal,
            queued: Box::pin(signal.notified()),
            seen: signal.count(),
        }
    }

    /// Whether jobs were queued since the last call. The waker is
    /// registered before the count is read: a submission after the read
    /// then wakes this task, and one before it is in the count.
    fn jobs_were_queued(&mut self, cx: &mut Context<'_>) -> bool {
        while self.queued.as_mut().poll(cx).is_ready() {
            self.queued.set(self.signal.notified());
        }
        let count = self.signal.count();
        let moved = count != self.seen;
        self.seen = count;
        moved
    }
}

impl PollStrategy for EveryInterval {
    fn poll_drive(&mut self, cx: &mut Context<'_>, _: &PollSnapshot) -> Poll<Option<()>> {
        let mut fired = false;
        // Re-arm and poll until the timer is pending, so that it holds this
        // task's waker whatever the caller does with the answer.
        while self.timer.as_mut().poll(cx).is_ready() {
            fired = true;
            let next = Instant::now() + self.every;
            self.timer.as_mut().reset(next);
        }
        if self.jobs_were_queued(cx) {
            fired = true;
        }
        if fired {
            Poll::Ready(Some(()))
        } else {
            Poll::Pending
        }
    }
}

#[cfg(test)]
mod tests {
    use std::{
        sync::{
            Arc,
            atomic::{AtomicUsize, Ordering},
        },
        task::{Wake, Waker},
    };

    use super::*;

    struct CountingWaker(AtomicUsize);

    impl Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// After firing, even when the caller was late, the next timer is armed
    /// with the caller's waker: it wakes the task again one interval later.
    #[tokio::test]
    async fn a_late_caller_is_woken_again() {
        let counter = Arc::new(CountingWaker(AtomicUsize::new(0)));
        let waker = Waker::from(counter.clone());
        let mut cx = Context::from_waker(&waker);
        static SIGNAL: QueuedSignal = QueuedSignal::new();
        let mut strategy = EveryInterval::listening_to(Duration::from_millis(20), &SIGNAL);
        let snapshot = PollSnapshot::default();
        assert!(strategy.poll_drive(&mut cx, &snapshot).is_pending());
        // The caller comes back several intervals late (a slow fetch).
        tokio::time::sleep(Duration::from_millis(70)).await;
        assert_eq!(
            strategy.poll_drive(&mut cx, &snapshot),
            Poll::Ready(Some(()))
        );
        let woken = counter.0.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(
            counter.0.load(Ordering::SeqCst) > woken,
            "the re-armed timer woke the task"
        );
    }

    /// Queued jobs are fetched at once, not at the next interval, including
    /// jobs queued while the worker was not waiting.
    #[tokio::test]
    async fn queued_jobs_fire_before_the_interval() {
        let counter = Arc::new(CountingWaker(AtomicUsize::new(0)));
        let waker = Waker::from(counter.clone());
        let mut cx = Context::from_waker(&waker);
        static SIGNAL: QueuedSignal = QueuedSignal::new();
        let mut strategy = EveryInterval::listening_to(Duration::from_secs(3600), &SIGNAL);
        let snapshot = PollSnapshot::default();
        assert!(strategy.poll_drive(&mut cx, &snapshot).is_pending());
        let before = counter.0.load(Ordering::SeqCst);
        SIGNAL.raise();
        assert!(
            counter.0.load(Ordering::SeqCst) > before,
            "queueing woke the waiting worker"
        );
        assert_eq!(
            strategy.poll_drive(&mut cx, &snapshot),
            Poll::Ready(Some(()))
        );
        assert!(strategy.poll_drive(&mut cx, &snapshot).is_pending());
        // Queued while the worker was not waiting (busy fetching): the next
        // call still fires.
        let _ = strategy.poll_drive(&mut cx, &snapshot);
        SIGNAL.raise();
        assert_eq!(
            strategy.poll_drive(&mut cx, &snapshot),
            Poll::Ready(Some(()))
        );
    }
}
