//! Group commit of attempt outcomes: the outcomes of attempts that end at
//! about the same moment are written in one transaction.
//!
//! Recording an outcome is one small UPDATE, but as its own transaction it
//! waits for a commit (a disk flush on PostgreSQL), and with many short
//! tasks those commits were half of the database's work. A handler hands
//! its outcome to the writer and waits for the answer, so nothing is
//! acknowledged to apalis before it is durable; the writer takes whatever
//! outcomes are waiting (while one transaction commits, the next batch
//! gathers) and writes them with one commit.

use ferry_entity::task::Model;
use sea_orm::{DatabaseConnection, DbErr, TransactionTrait};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use super::outcome::{self, Settled};
use crate::jobs::JobError;

/// Outcomes written per transaction, at most.
const MAX_BATCH: usize = 256;

struct Pending {
    task: Model,
    outcome: Result<Value, JobError>,
    elapsed: f64,
    reply: oneshot::Sender<Result<Settled, DbErr>>,
}

#[derive(Debug)]
pub(super) struct OutcomeWriter {
    tx: mpsc::UnboundedSender<Pending>,
}

impl OutcomeWriter {
    /// Starts the writer's task; it ends when the writer is dropped.
    pub(super) fn start(db: DatabaseConnection) -> OutcomeWriter {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(write_batches(db, rx));
        OutcomeWriter { tx }
    }

    /// Records an attempt's outcome (see [`outcome::settle`]) and returns
    /// once it is committed.
    pub(super) async fn settle(
        &self,
        task: Model,
        outcome: Result<Value, JobError>,
        elapsed: f64,
    ) -> Result<Settled, DbErr> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Pending {
                task,
                outcome,
                elapsed,
                reply,
            })
            .map_err(|_| DbErr::Custom("the outcome writer has stopped".into()))?;
        answer
            .await
            .unwrap_or_else(|_| Err(DbErr::Custom("the outcome writer has stopped".into())))
    }
}

async fn write_batches(db: DatabaseConnection, mut rx: mpsc::UnboundedReceiver<Pending>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let (replies, outcomes): (Vec<_>, Vec<_>) = batch
            .drain(..)
            .map(|p| (p.reply, (p.task, p.outcome, p.elapsed)))
            .unzip();
        match write(&db, outcomes).await {
            Ok(settled) => {
                for (reply, s) in replies.into_iter().zip(settled) {
                    let _ = reply.send(Ok(s));
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, outcomes = replies.len(), "recording attempt outcomes failed");
                for reply in replies {
                    let _ = reply.send(Err(DbErr::Custom(err.to_string())));
                }
            }
        }
    }
}

/// Writes every outcome of the batch in one transaction; all or nothing.
async fn write(
    db: &DatabaseConnection,
    outcomes: Vec<(Model, Result<Value, JobError>, f64)>,
) -> Result<Vec<Settled>, DbErr> {
    let txn = db.begin().await?;
    let mut settled = Vec::with_capacity(outcomes.len());
    for (task, outcome, elapsed) in outcomes {
        settled.push(outcome::settle(&txn, &task, outcome, elapsed).await?);
    }
    txn.commit().await?;
    Ok(settled)
}
