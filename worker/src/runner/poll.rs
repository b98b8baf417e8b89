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

use std::{
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use apalis::prelude::{PollSnapshot, PollStrategy};
use tokio::time::{Instant, Sleep};

pub(super) struct EveryInterval {
    every: Duration,
    timer: Pin<Box<Sleep>>,
}

impl EveryInterval {
    pub(super) fn new(every: Duration) -> EveryInterval {
        EveryInterval {
            every,
            timer: Box::pin(tokio::time::sleep(every)),
        }
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
        let mut strategy = EveryInterval::new(Duration::from_millis(20));
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
}
