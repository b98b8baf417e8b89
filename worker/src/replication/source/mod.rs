//! The binlog source: reads the upstream's binlog from a checkpoint and turns
//! it into transactions of row changes, DDL statements and commits that each
//! carry the checkpoint to resume after them.
//!
//! - `conn`: connection options and error classification (shared with the
//!   sink and the prechecks).
//! - `reader`: the binlog stream, decoded, with positions.
//! - `mariadb`: MariaDB's GTID events and positions.
//! - `row`: row images as exact [`row::Cell`]s.
//! - `ddl`: what a QUERY event's statement is and which tables it touches.
//! - `scan`: finding a binlog position by time (startTS).
//! - `session`: a QUERY event's SQL mode and character sets.

pub(crate) mod conn;
pub(crate) mod ddl;
pub(crate) mod mariadb;
pub(crate) mod reader;
pub(crate) mod row;
pub(crate) mod scan;
pub(crate) mod session;

use std::{sync::Arc, time::Duration};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use self::{
    ddl::Statement,
    mariadb::{Gtid, GtidState},
    reader::{BinlogReader, Decoded, Positioned, ReaderOptions},
    row::RowChange,
    session::SessionVars,
};
use ferry_service::changefeeds::{filter::TableFilter, tso};

use super::engine::{Checkpoint, MysqlEndpoint, ReplicationError};

/// With a heartbeat every second, this much silence means the connection is
/// dead even if TCP has not noticed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// What the source hands to the pipeline, in binlog order.
#[derive(Debug)]
pub(crate) enum SourceEvent {
    /// Changes of the current transaction to tables the filter keeps.
    Rows(Vec<RowChange>),
    /// The current transaction committed; everything before `0` has been read.
    Commit(Checkpoint),
    /// The current transaction was rolled back (a ROLLBACK in the binlog,
    /// which only happens when it also wrote non-transactional tables).
    Rollback(Checkpoint),
    /// A statement outside a transaction (a DDL, or something ignored),
    /// which is a transaction of its own and ends at `checkpoint`; or a DDL
    /// that opens a transaction (`CREATE TABLE ... SELECT`, whose rows and
    /// commit follow), with no checkpoint.
    Statement {
        schema: String,
        sql: Vec<u8>,
        /// How the upstream read `sql`; the downstream replays it the same way.
        session: SessionVars,
        statement: Statement,
        checkpoint: Option<Checkpoint>,
    },
    /// A statement-based data change (binlog_format is not ROW for it).
    StatementDml { schema: String, sql: Vec<u8> },
    /// The upstream is idle: everything it wrote has been read, up to this
    /// position (after the last commit, past any rotations since).
    Heartbeat(Checkpoint),
}

pub(crate) struct SourceOptions {
    pub upstream: MysqlEndpoint,
    pub server_id: u32,
    pub start: Checkpoint,
    pub filter: Arc<TableFilter>,
}

pub(crate) type SourceSender = mpsc::Sender<Result<SourceEvent, ReplicationError>>;

/// Reads the binlog from `opts.start` and sends what it finds to `tx` until
/// `cancel` fires or `tx` is closed. An error is sent as the last item.
pub(crate) async fn run(opts: SourceOptions, tx: SourceSender, cancel: CancellationToken) {
    let result = tokio::select! {
        result = stream(&opts, &tx) => result,
        () = cancel.cancelled() => Ok(()),
    };
    if let Err(e) = result {
        let _ = tx.send(Err(e)).await;
    }
}

async fn stream(opts: &SourceOptions, tx: &SourceSender) -> Result<(), ReplicationError> {
    let mut reader = BinlogReader::open(
        &opts.upstream,
        ReaderOptions {
            server_id: opts.server_id,
            file: opts.start.file.clone(),
            position: opts.start.position,
            non_blocking: false,
            filter: Some(opts.filter.clone()),
            idle_timeout: Some(IDLE_TIMEOUT),
        },
    )
    .await?;
    tracing::info!(
        file = %opts.start.file,
        position = opts.start.position,
        gtid = opts.start.gtid.as_deref().unwrap_or(""),
        "reading the upstream binlog"
    );
    let gtid = match opts.start.gtid.as_deref().map(GtidState::parse).transpose() {
        Ok(state) => state.unwrap_or_default(),
        Err(error) => {
            tracing::warn!(%error, "ignoring the checkpoint's GTID position");
            GtidState::default()
        }
    };
    let mut txns = Transactions::new(gtid, opts.start.tso);
    loop {
        let Some(event) = reader.next().await? else {
            return Err(ReplicationError::Retryable(
                "the upstream ended the binlog stream".into(),
            ));
        };
        for out in txns.feed(event) {
            if tx.send(Ok(out)).await.is_err() {
                reader.close().await;
                return Ok(());
            }
        }
    }
}

/// Assembles transactions from decoded events: tracks the GTID position,
/// transaction boundaries and TSOs.
pub(crate) struct Transactions {
    gtid: GtidState,
    /// The GTID of the transaction being read, applied at its commit.
    pending_gtid: Option<Gtid>,
    in_txn: bool,
    last_tso: u64,
}

impl Transactions {
    pub fn new(gtid: GtidState, last_tso: u64) -> Transactions {
        Transactions {
            gtid,
            pending_gtid: None,
            in_txn: false,
            last_tso,
        }
    }

    /// The GTID position after the last commit.
    pub fn gtid(&self) -> Option<String> {
        (!self.gtid.is_empty()).then(|| self.gtid.to_string())
    }

    /// The next TSO: the binlog second with a logical counter, strictly above
    /// every TSO handed out before (also across restarts, since `last_tso`
    /// starts at the checkpoint's).
    fn next_tso(&mut self, seconds: u32) -> u64 {
        let tso = tso::from_binlog(seconds, 0).max(self.last_tso + 1);
        self.last_tso = tso;
        tso
    }

    /// The checkpoint after the event `at`, which ends a transaction.
    fn commit(&mut self, at: &Positioned) -> Checkpoint {
        if let Some(gtid) = self.pending_gtid.take() {
            self.gtid.apply(gtid);
        }
        self.in_txn = false;
        Checkpoint {
            file: at.file.to_string(),
            position: at.end,
            gtid: self.gtid(),
            tso: self.next_tso(at.timestamp),
        }
    }

    /// What `event` means for the pipeline (usually nothing or one item).
    pub fn feed(&mut self, event: Positioned) -> Vec<SourceEvent> {
        match event.event {
            Decoded::Gtid(ref g) => {
                self.pending_gtid = Some(g.gtid);
                self.in_txn = !g.standalone;
                vec![]
            }
            Decoded::GtidList(ref list) if !event.artificial && !self.in_txn => {
                // The state at the start of a file we read from its beginning.
                let mut state = GtidState::default();
                list.iter().for_each(|g| state.apply(*g));
                if !state.is_empty() {
                    self.gtid = state;
                }
                vec![]
            }
            Decoded::Rows(ref rows) if rows.is_empty() => vec![],
            Decoded::Rows(rows) => {
                self.in_txn = true;
                vec![SourceEvent::Rows(rows)]
            }
            Decoded::Xid | Decoded::XaPrepare => vec![SourceEvent::Commit(self.commit(&event))],
            Decoded::Query {
                ref schema,
                ref sql,
                session,
            } => {
                let statement = ddl::classify(&String::from_utf8_lossy(sql), &session);
                match statement {
                    Statement::Begin => {
                        self.in_txn = true;
                        vec![]
                    }
                    Statement::Commit => vec![SourceEvent::Commit(self.commit(&event))],
                    Statement::Rollback => vec![SourceEvent::Rollback(self.commit(&event))],
                    Statement::Dml => vec![SourceEvent::StatementDml {
                        schema: schema.clone(),
                        sql: sql.clone(),
                    }],
                    Statement::Ddl(_) if self.in_txn => vec![SourceEvent::Statement {
                        schema: schema.clone(),
                        sql: sql.clone(),
                        session,
                        statement,
                        checkpoint: None,
                    }],
                    // Savepoints and the like inside a transaction.
                    _ if self.in_txn => vec![],
                    statement => {
                        let checkpoint = self.commit(&event);
                        vec![SourceEvent::Statement {
                            schema: schema.clone(),
                            sql: sql.clone(),
                            session,
                            statement,
                            checkpoint: Some(checkpoint),
                        }]
                    }
                }
            }
            Decoded::Heartbeat if !self.in_txn => vec![SourceEvent::Heartbeat(Checkpoint {
                file: event.file.to_string(),
                position: event.end,
                gtid: self.gtid(),
                tso: self.last_tso,
            })],
            _ => vec![],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replication::source::{
        mariadb::GtidEvent,
        row::{ColumnInfo, RowOp, TableInfo},
    };

    fn at(event: Decoded, end: u64, timestamp: u32) -> Positioned {
        Positioned {
            event,
            file: Arc::from("binlog.000001"),
            end,
            timestamp,
            artificial: false,
        }
    }

    fn gtid(seq: u64, standalone: bool) -> Decoded {
        Decoded::Gtid(GtidEvent {
            gtid: Gtid {
                domain: 0,
                server: 1,
                seq,
            },
            standalone,
        })
    }

    fn query(sql: &str) -> Decoded {
        Decoded::Query {
            schema: "db".into(),
            sql: sql.as_bytes().to_vec(),
            session: SessionVars::default(),
        }
    }

    fn rows() -> Decoded {
        let table = Arc::new(TableInfo {
            schema: "db".into(),
            name: "t".into(),
            columns: vec![ColumnInfo::test("id")],
            primary_key: vec![0],
        });
        Decoded::Rows(vec![RowChange {
            table,
            op: RowOp::Insert(vec![row::Cell::Int(1)]),
        }])
    }

    #[test]
    fn transactions_end_at_their_commit_with_gtid_and_increasing_tso() {
        let mut t = Transactions::new(GtidState::parse("0-1-4").unwrap(), 0);
        assert!(t.feed(at(gtid(5, false), 100, 1000)).is_empty());
        assert!(matches!(
            t.feed(at(rows(), 200, 1000))[..],
            [SourceEvent::Rows(_)]
        ));
        let [SourceEvent::Commit(first)] = &t.feed(at(Decoded::Xid, 231, 1000))[..] else {
            panic!("a commit");
        };
        assert_eq!(
            (first.position, first.gtid.as_deref()),
            (231, Some("0-1-5"))
        );
        assert_eq!(first.tso, tso::from_binlog(1000, 0));

        // Same second: the logical part counts up.
        t.feed(at(gtid(6, false), 300, 1000));
        let [SourceEvent::Commit(second)] = &t.feed(at(query("COMMIT"), 400, 1000))[..] else {
            panic!("a commit");
        };
        assert_eq!(second.tso, first.tso + 1);
        assert_eq!(second.gtid.as_deref(), Some("0-1-6"));

        // A clock going back still gives a larger TSO.
        t.feed(at(gtid(7, true), 450, 999));
        let [
            SourceEvent::Statement {
                checkpoint: Some(ddl),
                ..
            },
        ] = &t.feed(at(query("CREATE TABLE x (a int)"), 500, 999))[..]
        else {
            panic!("a statement");
        };
        assert_eq!(ddl.tso, second.tso + 1);
        assert_eq!(ddl.gtid.as_deref(), Some("0-1-7"));
    }

    #[test]
    fn create_table_select_is_a_ddl_inside_a_transaction() {
        let mut t = Transactions::new(GtidState::default(), 0);
        t.feed(at(gtid(1, false), 100, 1000));
        let out = t.feed(at(
            query("CREATE TABLE b (PRIMARY KEY (id)) SELECT * FROM a"),
            200,
            1000,
        ));
        assert!(matches!(
            out[..],
            [SourceEvent::Statement {
                checkpoint: None,
                ..
            }]
        ));
        assert!(matches!(
            t.feed(at(rows(), 300, 1000))[..],
            [SourceEvent::Rows(_)]
        ));
        assert!(matches!(
            t.feed(at(Decoded::Xid, 400, 1000))[..],
            [SourceEvent::Commit(_)]
        ));
    }

    #[test]
    fn heartbeats_report_the_position_only_between_transactions() {
        let mut t = Transactions::new(GtidState::default(), 42);
        let heartbeat = |end| Positioned {
            artificial: true,
            ..at(Decoded::Heartbeat, end, 0)
        };
        let [SourceEvent::Heartbeat(idle)] = &t.feed(heartbeat(900))[..] else {
            panic!("a heartbeat");
        };
        assert_eq!((idle.position, idle.tso), (900, 42));
        t.feed(at(gtid(1, false), 1000, 1000));
        assert!(t.feed(heartbeat(1000)).is_empty());
    }

    #[test]
    fn statement_based_changes_are_reported() {
        let mut t = Transactions::new(GtidState::default(), 0);
        t.feed(at(query("BEGIN"), 100, 1000));
        assert!(matches!(
            t.feed(at(query("INSERT INTO t VALUES (1)"), 200, 1000))[..],
            [SourceEvent::StatementDml { .. }]
        ));
        assert!(t.feed(at(query("SAVEPOINT a"), 250, 1000)).is_empty());
        assert!(matches!(
            t.feed(at(query("ROLLBACK"), 300, 1000))[..],
            [SourceEvent::Rollback(_)]
        ));
    }
}
