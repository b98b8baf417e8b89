//! Sinks: where replicated changes go. Only MySQL/TiDB for now; Kafka will
//! be a sibling of `mysql`.
//!
//! The pipeline runs `worker_count` appliers ([`run_applier`]), each with its
//! own downstream connection, and hands each one batches of row changes
//! partitioned by table and key, numbered by round. An applier commits each
//! batch in one downstream transaction and reports it with [`Done`].

pub(crate) mod mysql;
pub(crate) mod sql;
mod statements;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use self::mysql::MysqlSink;
use super::{
    engine::{MysqlEndpoint, ReplicationError},
    source::row::RowChange,
};

/// Work for one applier, in order.
pub(crate) enum ApplierMsg {
    /// Apply these rows (a part of round `round`) in one transaction.
    Batch { round: u64, rows: Vec<RowChange> },
    /// A DDL changed downstream tables: forget their cached shape.
    SchemaChanged,
}

/// An applier finished its part of a round.
#[derive(Debug)]
pub(crate) struct Done {
    pub round: u64,
    /// Rows applied, or why not. After an error the applier stops.
    pub result: Result<usize, ReplicationError>,
}

/// Applies batches from `rx` until it closes or `abort` fires, reporting
/// each to `done`. Dropping the connection mid-transaction makes the
/// downstream roll it back, so an abort leaves nothing half-applied.
pub(crate) async fn run_applier(
    id: usize,
    downstream: MysqlEndpoint,
    mut rx: mpsc::Receiver<ApplierMsg>,
    done: mpsc::UnboundedSender<Done>,
    abort: CancellationToken,
) {
    let mut sink = MysqlSink::new(downstream);
    loop {
        let msg = tokio::select! {
            msg = rx.recv() => msg,
            () = abort.cancelled() => None,
        };
        let Some(msg) = msg else { break };
        match msg {
            ApplierMsg::SchemaChanged => sink.invalidate(),
            ApplierMsg::Batch { round, rows } => {
                let result = tokio::select! {
                    result = sink.apply(&rows) => result,
                    () = abort.cancelled() => break,
                };
                let failed = result.is_err();
                if let Err(error) = &result {
                    tracing::warn!(applier = id, round, %error, "applier failed");
                }
                if done.send(Done { round, result }).is_err() || failed {
                    break;
                }
            }
        }
    }
}
