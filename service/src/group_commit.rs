//! Group commit: requests that arrive at about the same moment are written by
//! one statement or one transaction, and each caller gets its own answer.
//!
//! A task's submission or an attempt's outcome is one small write, but on
//! its own it waits for a commit (a disk flush on PostgreSQL) and a round
//! trip, and with many concurrent callers those were most of the
//! database's work. A caller hands its request to the group and waits for
//! the answer, so nothing is acknowledged before it is durable; the group's
//! task takes whatever requests are waiting (while one write commits, the
//! next group gathers) and writes them together. A lone request is written
//! at once: grouping adds no wait of its own.
//!
//! Users: the worker's outcome writer (`ferry_worker`'s
//! `runner/outcome_writer.rs`) and single submissions on PostgreSQL
//! (`tasks::submit`).

use std::{fmt, future::Future};

use sea_orm::DbErr;
use tokio::sync::{mpsc, oneshot};

struct Pending<In, Out> {
    request: In,
    reply: oneshot::Sender<Result<Out, DbErr>>,
}

/// A writer that groups the requests of concurrent callers.
pub struct GroupCommit<In, Out> {
    what: &'static str,
    tx: mpsc::UnboundedSender<Pending<In, Out>>,
}

impl<In, Out> fmt::Debug for GroupCommit<In, Out> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupCommit")
            .field("what", &self.what)
            .finish()
    }
}

impl<In: Send + 'static, Out: Send + 'static> GroupCommit<In, Out> {
    /// Starts the group's task, which ends when the group is dropped.
    /// `write` gets at most `max` requests and answers each, in order, or
    /// fails them all; `what` names the requests in logs.
    pub fn start<W, F>(what: &'static str, max: usize, mut write: W) -> GroupCommit<In, Out>
    where
        W: FnMut(Vec<In>) -> F + Send + 'static,
        F: Future<Output = Result<Vec<Out>, DbErr>> + Send,
    {
        let (tx, mut rx) = mpsc::unbounded_channel::<Pending<In, Out>>();
        tokio::spawn(async move {
            let mut group = Vec::with_capacity(max);
            while rx.recv_many(&mut group, max).await > 0 {
                let (replies, requests): (Vec<_>, Vec<_>) =
                    group.drain(..).map(|p| (p.reply, p.request)).unzip();
                let count = requests.len();
                match write(requests).await {
                    Ok(answers) if answers.len() == count => {
                        for (reply, answer) in replies.into_iter().zip(answers) {
                            let _ = reply.send(Ok(answer));
                        }
                    }
                    Ok(answers) => {
                        let err = format!("{what}: {} answers for {count} requests", answers.len());
                        for reply in replies {
                            let _ = reply.send(Err(DbErr::Custom(err.clone())));
                        }
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, requests = count, "writing {what} failed");
                        for reply in replies {
                            let _ = reply.send(Err(DbErr::Custom(err.to_string())));
                        }
                    }
                }
            }
        });
        GroupCommit { what, tx }
    }

    /// Hands `request` to the group and returns its answer once written.
    pub async fn call(&self, request: In) -> Result<Out, DbErr> {
        let stopped = || DbErr::Custom(format!("the writer of {} has stopped", self.what));
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Pending { request, reply })
            .map_err(|_| stopped())?;
        answer.await.unwrap_or_else(|_| Err(stopped()))
    }
}
