//! Sinks: where replicated changes go, one module per downstream kind:
//! `mysql` (MySQL and TiDB) and `kafka`.
//!
//! The pipeline runs appliers and hands each one batches of row changes,
//! numbered by round. For MySQL there are `worker_count` appliers
//! ([`run_applier`]), each with its own downstream connection, fed batches
//! partitioned by table and key; an applier commits each batch in one
//! downstream transaction and reports it with [`Done`]. For Kafka one
//! applier ([`kafka::run_applier`]) produces every batch and reports it once
//! the broker has acknowledged it. DDL goes through [`DdlTarget`] after the
//! appliers have drained.

pub(crate) mod kafka;
pub(crate) mod mysql;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use self::{kafka::KafkaSink, mysql::MysqlSink};
use super::{
    engine::{MysqlEndpoint, ReplicationError},
    source::{
        ddl::{Ddl, DdlPlan},
        row::{RowChange, TableInfo},
    },
};

/// `sql` cut to a length fit for an error message or a log line.
pub(crate) fn abbreviate(sql: &str) -> String {
    const MAX: usize = 300;
    let sql = sql.trim();
    match sql.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}...", &sql[..cut]),
        None => sql.to_owned(),
    }
}

/// Where the pipeline sends DDL, and what it asks about tables.
pub(crate) enum DdlTarget {
    /// Boxed: the sink holds its endpoint and connection state, many times
    /// the size of the Kafka variant's handle.
    Mysql(Box<MysqlSink>),
    Kafka(KafkaSink),
}

impl DdlTarget {
    /// Applies (MySQL) or publishes (Kafka) a DDL that committed at
    /// `commit_ts`, run upstream in `schema`.
    pub async fn apply_ddl(
        &mut self,
        ddl: &Ddl,
        plan: &DdlPlan,
        schema: &str,
        commit_ts: u64,
    ) -> Result<(), ReplicationError> {
        match self {
            DdlTarget::Mysql(sink) => sink.apply_ddl(plan).await,
            DdlTarget::Kafka(sink) => {
                let (schema, table, kind) = kafka::describe_ddl(ddl, plan, schema);
                sink.publish_ddl(schema, table, &plan.sql, kind, commit_ts)
                    .await
            }
        }
    }

    /// Whether rows of `table` may be spread over several appliers (MySQL
    /// only; Kafka has one applier and partitions by its dispatchers).
    pub async fn parallel_safe(&mut self, table: &TableInfo) -> Result<bool, ReplicationError> {
        match self {
            DdlTarget::Mysql(sink) => sink.parallel_safe(table).await,
            DdlTarget::Kafka(_) => Ok(false),
        }
    }
}

/// Work for one applier, in order.
pub(crate) enum ApplierMsg {
    /// Apply these rows (a part of round `round`) in one transaction.
    /// `commit_ts[i]` is the commit TSO of `rows[i]`'s transaction.
    Batch {
        round: u64,
        rows: Vec<RowChange>,
        commit_ts: Vec<u64>,
    },
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
            ApplierMsg::Batch { round, rows, .. } => {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_statements_are_abbreviated() {
        assert_eq!(abbreviate(" DROP TABLE t "), "DROP TABLE t");
        let long = "é".repeat(400);
        assert_eq!(abbreviate(&long).chars().count(), 303);
    }
}
