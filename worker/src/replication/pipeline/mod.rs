//! The replication engine's run loop: binlog source -> table filter -> MySQL
//! sink, with the checkpoint reported as the downstream commits.
//!
//! Row changes are gathered into rounds of up to `max_txn_rows` rows (whole
//! upstream transactions, unless one alone is bigger). A round is split
//! among `worker_count` appliers by table and primary key, so that all
//! changes of one row go to the same applier, in order; each applier commits
//! its part in one downstream transaction. Rounds are numbered and the
//! checkpoint moves to a round's end only when every applier has committed
//! its part of that round and of all rounds before it. A DDL is a barrier:
//! the appliers are drained, the DDL is applied, and replication goes on.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

mod rounds;
mod shutdown;

use tokio::{sync::mpsc, task::JoinHandle};

use self::{
    rounds::{Rounds, partition},
    shutdown::is_after,
};
use tokio_util::sync::CancellationToken;

use ferry_service::changefeeds::{filter::TableFilter, tso};

use super::{
    engine::{
        Checkpoint, Downstream, Fence, Progress, ReplicationError, ReplicationSpec, StartFrom,
    },
    precheck,
    sink::{
        ApplierMsg, DdlTarget, Done, abbreviate,
        kafka::{self, KafkaSink},
        mysql::MysqlSink,
        run_applier,
    },
    source::{
        self, SourceEvent, SourceOptions,
        ddl::{self, Statement},
        row::{RowChange, RowOp, TableInfo},
        scan,
    },
};

/// Progress is reported at most this often, except the final report.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(100);
/// Source events buffered ahead of the pipeline.
const SOURCE_BUFFER: usize = 256;
/// Batches queued per applier; more lets a slow applier hold up memory.
const APPLIER_QUEUE: usize = 4;
/// On stop, how long in-flight batches may take to commit before they are
/// abandoned (rolled back downstream).
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// See [`super::engine::run`].
pub async fn run(
    spec: ReplicationSpec,
    start: StartFrom,
    progress: mpsc::Sender<Progress>,
    stop: CancellationToken,
    fence: Fence,
) -> Result<(), ReplicationError> {
    let filter = Arc::new(
        TableFilter::parse(&spec.rules)
            .map_err(|e| ReplicationError::Fatal(format!("invalid table-filter rules: {e}")))?,
    );
    let start = match start {
        StartFrom::Checkpoint(cp) => cp,
        StartFrom::Tso(t) => scan::find_start(&spec.upstream, t).await?,
        StartFrom::Now => precheck::current_checkpoint(&spec.upstream).await?,
    };
    tracing::info!(
        changefeed = %spec.changefeed_id,
        file = %start.file,
        position = start.position,
        tso = start.tso,
        workers = spec.worker_count,
        "replication starting"
    );
    let mut engine = Engine::start(&spec, start, filter, progress, &stop, fence).await?;
    // The resolved start is worth persisting at once: restarting from
    // `StartFrom::Now` later would skip what happened in between.
    engine.dirty = true;
    engine.report();
    let result = engine.run(&stop).await;
    engine.shut_down(result.is_ok()).await;
    match &result {
        Ok(()) => tracing::info!(changefeed = %spec.changefeed_id, "replication stopped"),
        Err(error) => {
            tracing::warn!(changefeed = %spec.changefeed_id, %error, "replication failed")
        }
    }
    result
}

struct Engine {
    filter: Arc<TableFilter>,
    max_rows: usize,
    source_rx: mpsc::Receiver<Result<SourceEvent, ReplicationError>>,
    source_task: JoinHandle<()>,
    source_stop: CancellationToken,
    appliers: Vec<mpsc::Sender<ApplierMsg>>,
    applier_tasks: Vec<JoinHandle<()>>,
    applier_abort: CancellationToken,
    done_rx: mpsc::UnboundedReceiver<Done>,
    target: DdlTarget,
    /// Whether a transaction bigger than `max_rows` may be sent in parts
    /// before its commit. Kafka messages carry the commit TSO, so a Kafka
    /// downstream gets whole transactions only.
    split_transactions: bool,
    progress: mpsc::Sender<Progress>,
    /// Nothing is sent downstream once it passed.
    fence: Fence,

    /// Rows of the round being gathered.
    pending: Vec<PendingRow>,
    /// The last table seen and whether its rows may go to any applier.
    last_table: Option<(Arc<TableInfo>, bool)>,
    /// Where in `pending` the current upstream transaction starts.
    txn_start: usize,
    /// Whether part of the current transaction was already sent.
    txn_split: bool,
    pending_checkpoint: Option<Checkpoint>,
    rounds: Rounds,

    committed: Checkpoint,
    fetched_tso: u64,
    upstream_tso: u64,
    rows_applied: u64,
    dirty: bool,
    last_report: Option<Instant>,
}

/// A row change waiting to be sent, with the applier it belongs to and, once
/// its transaction has committed, the commit TSO.
struct PendingRow {
    slot: u64,
    change: RowChange,
    commit_ts: u64,
}

impl Engine {
    async fn start(
        spec: &ReplicationSpec,
        start: Checkpoint,
        filter: Arc<TableFilter>,
        progress: mpsc::Sender<Progress>,
        stop: &CancellationToken,
        fence: Fence,
    ) -> Result<Engine, ReplicationError> {
        // The Kafka producer is ready (and the topic known) before the
        // binlog is read, so a broken downstream fails fast.
        let kafka = match &spec.downstream {
            Downstream::Kafka(k) => Some(KafkaSink::open(k).await?),
            Downstream::Mysql(_) => None,
        };
        let source_stop = stop.child_token();
        let (source_tx, source_rx) = mpsc::channel(SOURCE_BUFFER);
        let source_task = tokio::spawn(source::run(
            SourceOptions {
                upstream: spec.upstream.clone(),
                server_id: spec.server_id,
                start: start.clone(),
                filter: filter.clone(),
            },
            source_tx,
            source_stop.clone(),
        ));
        let applier_abort = CancellationToken::new();
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        let mut appliers = Vec::new();
        let mut applier_tasks = Vec::new();
        let target = match (&spec.downstream, kafka) {
            (Downstream::Mysql(endpoint), _) => {
                for id in 0..spec.worker_count.max(1) {
                    let (tx, rx) = mpsc::channel(APPLIER_QUEUE);
                    appliers.push(tx);
                    applier_tasks.push(tokio::spawn(run_applier(
                        id,
                        endpoint.clone(),
                        rx,
                        done_tx.clone(),
                        applier_abort.clone(),
                    )));
                }
                DdlTarget::Mysql(Box::new(MysqlSink::new(endpoint.clone())))
            }
            (Downstream::Kafka(_), Some(sink)) => {
                let (tx, rx) = mpsc::channel(APPLIER_QUEUE);
                appliers.push(tx);
                applier_tasks.push(tokio::spawn(kafka::run_applier(
                    sink.clone(),
                    rx,
                    done_tx.clone(),
                    applier_abort.clone(),
                )));
                DdlTarget::Kafka(sink)
            }
            (Downstream::Kafka(_), None) => unreachable!("opened above"),
        };
        Ok(Engine {
            filter,
            max_rows: spec.max_txn_rows.max(1),
            source_rx,
            source_task,
            source_stop,
            appliers,
            applier_tasks,
            applier_abort,
            done_rx,
            split_transactions: matches!(target, DdlTarget::Mysql(_)),
            target,
            progress,
            fence,
            pending: Vec::new(),
            last_table: None,
            txn_start: 0,
            txn_split: false,
            pending_checkpoint: None,
            rounds: Rounds::default(),
            fetched_tso: start.tso,
            upstream_tso: start.tso,
            committed: start,
            rows_applied: 0,
            dirty: false,
            last_report: None,
        })
    }

    /// Replicates until `stop` (Ok) or an error.
    async fn run(&mut self, stop: &CancellationToken) -> Result<(), ReplicationError> {
        let mut tick = tokio::time::interval(PROGRESS_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let fence = self.fence.clone();
        loop {
            tokio::select! {
                biased;
                () = stop.cancelled() => return Ok(()),
                // The caller then aborts the appliers, rolling back what they
                // hold: nothing commits downstream after the fence.
                () = fence.passed() => return Err(ReplicationError::Fenced),
                Some(done) = self.done_rx.recv() => self.complete(done)?,
                event = self.source_rx.recv() => {
                    let event = event.unwrap_or_else(|| {
                        Err(ReplicationError::Retryable("the binlog reader stopped".into()))
                    })?;
                    if self.handle(event, stop).await? {
                        return Ok(());
                    }
                    // Nothing more is waiting: batching would only add latency.
                    if self.source_rx.is_empty() && self.flush_boundary(stop).await? {
                        return Ok(());
                    }
                }
                _ = tick.tick() => {
                    if self.flush_boundary(stop).await? {
                        return Ok(());
                    }
                    self.report();
                }
            }
        }
    }

    /// Handles one source event; `Ok(true)` when `stop` fired meanwhile.
    async fn handle(
        &mut self,
        event: SourceEvent,
        stop: &CancellationToken,
    ) -> Result<bool, ReplicationError> {
        match event {
            SourceEvent::Rows(rows) => {
                for change in rows {
                    let parallel = self.parallel(&change.table).await?;
                    self.push_change(change, parallel);
                }
                if self.split_transactions && self.pending.len() >= self.max_rows {
                    self.txn_split = true;
                    return self.flush(stop).await;
                }
            }
            SourceEvent::Commit(checkpoint) => return self.commit(checkpoint, stop).await,
            SourceEvent::Rollback(checkpoint) => {
                // Only transactions that also wrote non-transactional tables
                // reach the binlog with a ROLLBACK; their rows are dropped.
                tracing::warn!(
                    file = %checkpoint.file,
                    position = checkpoint.position,
                    partly_applied = self.txn_split,
                    "the binlog holds a rolled-back transaction; its row changes are not applied"
                );
                self.pending.truncate(self.txn_start);
                return self.commit(checkpoint, stop).await;
            }
            SourceEvent::StatementDml { schema, sql } => {
                if schema.is_empty() || self.filter.matches_schema(&schema) {
                    return Err(ReplicationError::Fatal(format!(
                        "the upstream logged a change as a statement, not as rows \
                         (binlog_format must be ROW): `{}`",
                        abbreviate(&String::from_utf8_lossy(&sql))
                    )));
                }
            }
            SourceEvent::Statement {
                schema,
                sql,
                session,
                statement,
                checkpoint,
            } => {
                let plan = match &statement {
                    Statement::Ddl(d) => {
                        let text = String::from_utf8_lossy(&sql);
                        ddl::plan(d, &text, &schema, session, &self.filter).map(|p| (d, p))
                    }
                    _ => None,
                };
                let Some((d, mut plan)) = plan else {
                    return match checkpoint {
                        Some(checkpoint) => self.commit(checkpoint, stop).await,
                        None => Ok(false),
                    };
                };
                if std::str::from_utf8(&sql).is_err() {
                    return Err(ReplicationError::Fatal(format!(
                        "a DDL is not valid UTF-8, which ferry cannot apply: `{}`",
                        abbreviate(&plan.sql)
                    )));
                }
                session.check_lexable()?;
                plan.sql = plan.sql.trim().to_owned();
                // Barrier: everything before the DDL is committed first.
                if self.flush(stop).await? || self.drain(stop).await? {
                    return Ok(true);
                }
                // A DDL can take long; stopping abandons it (the server may
                // still finish it, and a replay then finds it applied).
                let commit_ts = checkpoint.as_ref().map_or(self.fetched_tso, |c| c.tso);
                self.fence.check()?;
                tokio::select! {
                    applied = self.target.apply_ddl(d, &plan, &schema, commit_ts) => applied?,
                    () = stop.cancelled() => return Ok(true),
                }
                for applier in &self.appliers {
                    // A closed applier has failed; its error is in `done_rx`.
                    let _ = applier.send(ApplierMsg::SchemaChanged).await;
                }
                self.last_table = None;
                // A DDL inside a transaction (CREATE TABLE ... SELECT) moves
                // the checkpoint only with the transaction's commit.
                if let Some(checkpoint) = checkpoint {
                    self.observe(checkpoint.tso);
                    self.committed = checkpoint;
                    self.dirty = true;
                    self.report();
                }
            }
            SourceEvent::Heartbeat(position) => {
                let now = tso::from_unix_ms(chrono::Utc::now().timestamp_millis().max(0) as u64);
                self.observe(now);
                self.dirty = true;
                // Idle with everything committed: the checkpoint can move past
                // what follows the last commit (rotations, checkpoints), so
                // that it does not pin an old binlog file.
                if self.pending.is_empty()
                    && self.pending_checkpoint.is_none()
                    && self.rounds.is_empty()
                    && is_after(&position, &self.committed)
                {
                    self.committed = position;
                }
            }
        }
        Ok(false)
    }

    fn observe(&mut self, tso: u64) {
        self.fetched_tso = self.fetched_tso.max(tso);
        self.upstream_tso = self.upstream_tso.max(tso);
    }

    /// Whether rows of `table` may be spread over the appliers by primary
    /// key (see `MysqlSink::parallel_safe`); otherwise the whole table goes
    /// to one applier, in upstream order.
    async fn parallel(&mut self, table: &Arc<TableInfo>) -> Result<bool, ReplicationError> {
        if self.appliers.len() <= 1 {
            return Ok(false);
        }
        if let Some((last, parallel)) = &self.last_table
            && Arc::ptr_eq(last, table)
        {
            return Ok(*parallel);
        }
        let parallel = self.target.parallel_safe(table).await?;
        self.last_table = Some((table.clone(), parallel));
        Ok(parallel)
    }

    /// Adds one row change to the round with the applier it belongs to.
    /// With parallel appliers, an update that changes the primary key is
    /// split into a delete of the old row and an insert of the new one,
    /// since the two keys may belong to different appliers.
    fn push_change(&mut self, change: RowChange, parallel: bool) {
        if !parallel {
            let slot = partition(&change, false);
            self.queue(slot, change);
            return;
        }
        let pk = &change.table.primary_key;
        if let RowOp::Update { before, after } = &change.op
            && pk.iter().any(|&i| before[i] != after[i])
        {
            let RowOp::Update { before, after } = change.op else {
                unreachable!()
            };
            let delete = RowChange {
                table: change.table.clone(),
                op: RowOp::Delete(before),
            };
            let insert = RowChange {
                table: change.table,
                op: RowOp::Insert(after),
            };
            self.queue(partition(&delete, true), delete);
            self.queue(partition(&insert, true), insert);
            return;
        }
        self.queue(partition(&change, true), change);
    }

    fn queue(&mut self, slot: u64, change: RowChange) {
        self.pending.push(PendingRow {
            slot,
            change,
            commit_ts: 0,
        });
    }

    /// The end of an upstream transaction (or of a statement outside one).
    async fn commit(
        &mut self,
        checkpoint: Checkpoint,
        stop: &CancellationToken,
    ) -> Result<bool, ReplicationError> {
        self.observe(checkpoint.tso);
        for row in &mut self.pending[self.txn_start..] {
            row.commit_ts = checkpoint.tso;
        }
        self.pending_checkpoint = Some(checkpoint);
        self.txn_start = self.pending.len();
        self.txn_split = false;
        if self.pending.len() >= self.max_rows {
            return self.flush(stop).await;
        }
        Ok(false)
    }

    /// Flushes the gathered round if it ends at a transaction boundary.
    async fn flush_boundary(&mut self, stop: &CancellationToken) -> Result<bool, ReplicationError> {
        if self.pending_checkpoint.is_some() && self.txn_start == self.pending.len() {
            return self.flush(stop).await;
        }
        Ok(false)
    }

    /// Sends the gathered round to the appliers; `Ok(true)` if `stop` fired
    /// while waiting for room in their queues.
    async fn flush(&mut self, stop: &CancellationToken) -> Result<bool, ReplicationError> {
        if self.pending.is_empty() && self.pending_checkpoint.is_none() {
            return Ok(false);
        }
        self.fence.check()?;
        let fence = self.fence.clone();
        let workers = self.appliers.len();
        let mut parts: Vec<(Vec<RowChange>, Vec<u64>)> =
            (0..workers).map(|_| (Vec::new(), Vec::new())).collect();
        for row in self.pending.drain(..) {
            let part = &mut parts[(row.slot % workers as u64) as usize];
            part.0.push(row.change);
            part.1.push(row.commit_ts);
        }
        self.txn_start = 0;
        let id = self.rounds.open(
            parts.iter().filter(|p| !p.0.is_empty()).count(),
            self.pending_checkpoint.take(),
        );
        for (slot, (rows, commit_ts)) in parts.into_iter().enumerate() {
            if rows.is_empty() {
                continue;
            }
            let msg = ApplierMsg::Batch {
                round: id,
                rows,
                commit_ts,
            };
            tokio::select! {
                sent = self.appliers[slot].send(msg) => {
                    if sent.is_err() {
                        // The applier stopped after reporting an error: return that one.
                        while let Ok(done) = self.done_rx.try_recv() {
                            self.complete(done)?;
                        }
                        return Err(ReplicationError::Retryable("a downstream applier stopped".into()));
                    }
                }
                () = stop.cancelled() => return Ok(true),
                () = fence.passed() => return Err(ReplicationError::Fenced),
            }
        }
        self.settle();
        Ok(false)
    }

    /// Waits until every round sent is committed; `Ok(true)` if `stop` fired.
    async fn drain(&mut self, stop: &CancellationToken) -> Result<bool, ReplicationError> {
        while !self.rounds.is_empty() {
            tokio::select! {
                done = self.done_rx.recv() => match done {
                    Some(done) => self.complete(done)?,
                    None => return Err(ReplicationError::Retryable("the downstream appliers stopped".into())),
                },
                () = stop.cancelled() => return Ok(true),
            }
        }
        Ok(false)
    }

    /// Records an applier's commit of its part of a round.
    fn complete(&mut self, done: Done) -> Result<(), ReplicationError> {
        let rows = done.result?;
        self.rows_applied += rows as u64;
        self.rounds.done(done.round);
        self.settle();
        Ok(())
    }

    /// Moves the checkpoint past every leading round that is fully committed.
    fn settle(&mut self) {
        if let Some(cp) = self.rounds.settle() {
            self.committed = cp;
            self.dirty = true;
        }
        self.report();
    }
}

impl Drop for Engine {
    /// If the engine's future is dropped (the supervisor gave up on it),
    /// its tasks stop too instead of replicating unsupervised.
    fn drop(&mut self) {
        self.source_stop.cancel();
        self.applier_abort.cancel();
    }
}
