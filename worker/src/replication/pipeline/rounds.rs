//! Rounds: numbered batches of changes split among the appliers, and which
//! applier each change goes to.

use std::{
    collections::VecDeque,
    hash::{DefaultHasher, Hash, Hasher},
};

use crate::replication::{
    engine::Checkpoint,
    source::row::{RowChange, RowOp},
};

/// One round sent to the appliers.
#[derive(Debug)]
struct Round {
    id: u64,
    /// Appliers that have not committed their part yet.
    outstanding: usize,
    /// Where the checkpoint goes once the round and every round before it
    /// are committed; `None` when the round ends inside a transaction.
    checkpoint: Option<Checkpoint>,
}

/// The rounds not yet fully committed, oldest first.
#[derive(Debug, Default)]
pub(super) struct Rounds {
    queue: VecDeque<Round>,
    next: u64,
}

impl Rounds {
    /// Opens a round that `parts` appliers work on; returns its number.
    pub fn open(&mut self, parts: usize, checkpoint: Option<Checkpoint>) -> u64 {
        let id = self.next;
        self.next += 1;
        self.queue.push_back(Round {
            id,
            outstanding: parts,
            checkpoint,
        });
        id
    }

    /// An applier committed its part of round `id`.
    pub fn done(&mut self, id: u64) {
        let index = self
            .queue
            .front()
            .and_then(|front| id.checked_sub(front.id));
        if let Some(round) = index.and_then(|i| self.queue.get_mut(i as usize)) {
            round.outstanding = round.outstanding.saturating_sub(1);
        }
    }

    /// Removes the leading rounds that are fully committed and returns the
    /// checkpoint the last of them carries, if any.
    pub fn settle(&mut self) -> Option<Checkpoint> {
        let mut checkpoint = None;
        while self.queue.front().is_some_and(|r| r.outstanding == 0) {
            let round = self.queue.pop_front().expect("checked above");
            checkpoint = round.checkpoint.or(checkpoint);
        }
        checkpoint
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}

/// The partition hash of a change: by table and, when `by_key`, primary
/// key, so every change of one row goes to the same applier (the hash
/// modulo the number of appliers).
pub(super) fn partition(change: &RowChange, by_key: bool) -> u64 {
    let mut h = DefaultHasher::new();
    change.table.schema.hash(&mut h);
    change.table.name.hash(&mut h);
    if by_key {
        let cells = match &change.op {
            RowOp::Insert(c) | RowOp::Delete(c) => c,
            RowOp::Update { after, .. } => after,
        };
        for &i in &change.table.primary_key {
            cells[i].hash(&mut h);
        }
    }
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cp(position: u64) -> Option<Checkpoint> {
        Some(Checkpoint {
            file: "binlog.000001".into(),
            position,
            gtid: None,
            tso: position,
        })
    }

    #[test]
    fn the_checkpoint_waits_for_every_earlier_round() {
        let mut rounds = Rounds::default();
        let a = rounds.open(2, cp(100));
        let b = rounds.open(1, cp(200));
        rounds.done(b);
        assert_eq!(rounds.settle(), None, "round b is done but a is not");
        rounds.done(a);
        assert_eq!(rounds.settle(), None, "a still has one part out");
        rounds.done(a);
        assert_eq!(rounds.settle().map(|c| c.position), Some(200));
        assert!(rounds.is_empty());
    }

    #[test]
    fn rounds_inside_a_transaction_do_not_move_the_checkpoint() {
        let mut rounds = Rounds::default();
        let a = rounds.open(1, cp(100));
        let b = rounds.open(1, None);
        let c = rounds.open(0, None);
        rounds.done(a);
        rounds.done(b);
        let _ = c;
        assert_eq!(rounds.settle().map(|c| c.position), Some(100));
        assert!(rounds.is_empty());
    }
}
