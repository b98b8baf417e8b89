//! The engine's progress reports and its shutdown.

use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::{DRAIN_TIMEOUT, Engine, PROGRESS_INTERVAL};
use crate::replication::engine::{Checkpoint, Progress};

impl Engine {
    /// Sends progress if it changed, at most every [`PROGRESS_INTERVAL`].
    pub(super) fn report(&mut self) {
        if !self.dirty
            || self
                .last_report
                .is_some_and(|t| t.elapsed() < PROGRESS_INTERVAL)
        {
            return;
        }
        match self.progress.try_send(self.snapshot()) {
            Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => {
                self.dirty = false;
                self.last_report = Some(Instant::now());
            }
            // The supervisor is behind; the next tick sends a newer one.
            Err(mpsc::error::TrySendError::Full(_)) => {}
        }
    }

    fn snapshot(&self) -> Progress {
        Progress {
            checkpoint: self.committed.clone(),
            fetched_tso: self.fetched_tso,
            upstream_tso: self.upstream_tso,
            rows_applied: self.rows_applied,
        }
    }

    /// Stops reading, lets the appliers commit what they were given (up to
    /// [`DRAIN_TIMEOUT`], only when stopping cleanly), abandons the rest and
    /// reports the final checkpoint. Rows gathered but not sent are dropped:
    /// they are after the checkpoint and will be read again.
    pub(super) async fn shut_down(&mut self, clean: bool) {
        self.source_stop.cancel();
        self.source_rx.close();
        self.appliers.clear();
        if clean {
            let deadline = tokio::time::sleep(DRAIN_TIMEOUT);
            tokio::pin!(deadline);
            while !self.rounds.is_empty() {
                tokio::select! {
                    done = self.done_rx.recv() => match done {
                        Some(done) => {
                            if let Err(error) = self.complete(done) {
                                tracing::warn!(%error, "an applier failed while stopping");
                                break;
                            }
                        }
                        None => break,
                    },
                    () = &mut deadline => {
                        tracing::warn!("in-flight batches did not commit in time; abandoning them");
                        break;
                    }
                }
            }
        }
        self.applier_abort.cancel();
        for task in self.applier_tasks.drain(..) {
            let _ = task.await;
        }
        if tokio::time::timeout(Duration::from_secs(5), &mut self.source_task)
            .await
            .is_err()
        {
            self.source_task.abort();
        }
        let _ =
            tokio::time::timeout(Duration::from_secs(5), self.progress.send(self.snapshot())).await;
    }
}

/// Whether binlog position `a` is after `b`. Files compare by their
/// numeric suffix (`binlog.999999` is followed by `binlog.1000000`).
pub(super) fn is_after(a: &Checkpoint, b: &Checkpoint) -> bool {
    if a.file == b.file {
        return a.position > b.position;
    }
    let suffix = |f: &str| f.rsplit('.').next().and_then(|n| n.parse::<u64>().ok());
    match (suffix(&a.file), suffix(&b.file)) {
        (Some(x), Some(y)) => x > y,
        _ => a.file > b.file,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(file: &str, position: u64) -> Checkpoint {
        Checkpoint {
            file: file.into(),
            position,
            gtid: None,
            tso: 0,
        }
    }

    #[test]
    fn positions_order_by_file_number_then_offset() {
        assert!(is_after(
            &at("binlog.000001", 500),
            &at("binlog.000001", 400)
        ));
        assert!(!is_after(
            &at("binlog.000001", 400),
            &at("binlog.000001", 400)
        ));
        assert!(is_after(&at("binlog.000002", 4), &at("binlog.000001", 900)));
        assert!(is_after(
            &at("binlog.1000000", 4),
            &at("binlog.999999", 900)
        ));
    }
}
