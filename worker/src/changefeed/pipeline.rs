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
    collections::VecDeque,
    hash::{DefaultHasher, Hash, Hasher},
    sync::Arc,
    time::{Duration, Instant},
};

use tokio::{sync::mpsc, task::JoinHandle};
use tokio_util::sync::CancellationToken;

use super::{
    engine::{Checkpoint, Progress, ReplicationError, ReplicationSpec, StartFrom},
    filter::TableFilter,
    precheck,
    sink::{ApplierMsg, Done, mysql::MysqlSink, run_applier},
    source::{
        self, SourceEvent, SourceOptions,
        ddl::{self, Statement},
        row::{RowChange, RowOp},
        scan,
    },
    tso,
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
    let mut engine = Engine::start(&spec, start, filter, progress, &stop);
    // The resolved start is worth persisting at once: restarting from
    // `StartFrom::Now` later would skip what happened in between.
    engine.dirty = true;
    engine.report(false);
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

/// One numbered batch of changes, split among the appliers.
struct Round {
    id: u64,
    /// Appliers that have not committed their part yet.
    outstanding: usize,
    /// Where the checkpoint goes once the round is committed; `None` when
    /// the round ends inside a transaction.
    checkpoint: Option<Checkpoint>,
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
    ddl_sink: MysqlSink,
    progress: mpsc::Sender<Progress>,

    /// Rows of the round being gathered.
    pending: Vec<RowChange>,
    /// Where in `pending` the current upstream transaction starts.
    txn_start: usize,
    /// Whether part of the current transaction was already sent.
    txn_split: bool,
    pending_checkpoint: Option<Checkpoint>,
    rounds: VecDeque<Round>,
    next_round: u64,

    committed: Checkpoint,
    fetched_tso: u64,
    upstream_tso: u64,
    rows_applied: u64,
    dirty: bool,
    last_report: Option<Instant>,
}

impl Engine {
    fn start(
        spec: &ReplicationSpec,
        start: Checkpoint,
        filter: Arc<TableFilter>,
        progress: mpsc::Sender<Progress>,
        stop: &CancellationToken,
    ) -> Engine {
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
        for id in 0..spec.worker_count.max(1) {
            let (tx, rx) = mpsc::channel(APPLIER_QUEUE);
            appliers.push(tx);
            applier_tasks.push(tokio::spawn(run_applier(
                id,
                spec.downstream.clone(),
                rx,
                done_tx.clone(),
                applier_abort.clone(),
            )));
        }
        Engine {
            filter,
            max_rows: spec.max_txn_rows.max(1),
            source_rx,
            source_task,
            source_stop,
            appliers,
            applier_tasks,
            applier_abort,
            done_rx,
            ddl_sink: MysqlSink::new(spec.downstream.clone()),
            progress,
            pending: Vec::new(),
            txn_start: 0,
            txn_split: false,
            pending_checkpoint: None,
            rounds: VecDeque::new(),
            next_round: 0,
            fetched_tso: start.tso,
            upstream_tso: start.tso,
            committed: start,
            rows_applied: 0,
            dirty: false,
            last_report: None,
        }
    }

    /// Replicates until `stop` (Ok) or an error.
    async fn run(&mut self, stop: &CancellationToken) -> Result<(), ReplicationError> {
        let mut tick = tokio::time::interval(PROGRESS_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                () = stop.cancelled() => return Ok(()),
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
                    self.report(false);
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
                    self.push_change(change);
                }
                if self.pending.len() >= self.max_rows {
                    self.txn_split = true;
                    return self.flush(stop).await;
                }
            }
            SourceEvent::Commit(checkpoint) => return self.commit(checkpoint, stop).await,
            SourceEvent::Rollback(checkpoint) => {
                if self.txn_split {
                    tracing::warn!(
                        file = %checkpoint.file,
                        position = checkpoint.position,
                        "a transaction rolled back after part of it was applied downstream"
                    );
                }
                self.pending.truncate(self.txn_start);
                return self.commit(checkpoint, stop).await;
            }
            SourceEvent::StatementDml { schema, sql } => {
                if schema.is_empty() || self.filter.matches_schema(&schema) {
                    return Err(ReplicationError::Fatal(format!(
                        "the upstream logged a change as a statement, not as rows \
                         (binlog_format must be ROW): `{}`",
                        String::from_utf8_lossy(&sql)
                    )));
                }
            }
            SourceEvent::Statement {
                schema,
                sql,
                statement,
                checkpoint,
            } => {
                let plan = match &statement {
                    Statement::Ddl(d) => {
                        let text = String::from_utf8_lossy(&sql);
                        ddl::plan(d, &text, &schema, &self.filter)
                    }
                    _ => None,
                };
                let Some(mut plan) = plan else {
                    return self.commit(checkpoint, stop).await;
                };
                if std::str::from_utf8(&sql).is_err() {
                    return Err(ReplicationError::Fatal(format!(
                        "a DDL is not valid UTF-8, which ferry cannot apply: `{}`",
                        plan.sql
                    )));
                }
                plan.sql = plan.sql.trim().to_owned();
                // Barrier: everything before the DDL is committed first.
                if self.flush(stop).await? || self.drain(stop).await? {
                    return Ok(true);
                }
                // A DDL can take long; stopping abandons it (the server may
                // still finish it, and a replay then finds it applied).
                tokio::select! {
                    applied = self.ddl_sink.apply_ddl(&plan) => applied?,
                    () = stop.cancelled() => return Ok(true),
                }
                for applier in &self.appliers {
                    // A closed applier has failed; its error is in `done_rx`.
                    let _ = applier.send(ApplierMsg::SchemaChanged).await;
                }
                self.observe(checkpoint.tso);
                self.committed = checkpoint;
                self.dirty = true;
                self.report(false);
            }
            SourceEvent::Heartbeat(position) => {
                let now = tso::from_unix_ms(chrono::Utc::now().timestamp_millis().max(0) as u64);
                self.observe(now);
                self.dirty = true;
                // Idle with everything committed: the checkpoint can move past
                // what follows the last commit (rotations, checkpoints), so
                // that it does not pin an old binlog file.
                if self.pending.is_empty() && self.pending_checkpoint.is_none() && self.rounds.is_empty() {
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

    /// Adds one row change to the round, splitting an update that changes
    /// the primary key into a delete of the old row and an insert of the
    /// new one, since the two keys may belong to different appliers.
    fn push_change(&mut self, change: RowChange) {
        let pk = &change.table.primary_key;
        if let RowOp::Update { before, after } = &change.op
            && !pk.is_empty()
            && pk.iter().any(|&i| before[i] != after[i])
        {
            let RowOp::Update { before, after } = change.op else {
                unreachable!()
            };
            self.pending.push(RowChange {
                table: change.table.clone(),
                op: RowOp::Delete(before),
            });
            self.pending.push(RowChange {
                table: change.table,
                op: RowOp::Insert(after),
            });
            return;
        }
        self.pending.push(change);
    }

    /// The end of an upstream transaction (or of a statement outside one).
    async fn commit(
        &mut self,
        checkpoint: Checkpoint,
        stop: &CancellationToken,
    ) -> Result<bool, ReplicationError> {
        self.observe(checkpoint.tso);
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
        let id = self.next_round;
        self.next_round += 1;
        let workers = self.appliers.len();
        let mut parts: Vec<Vec<RowChange>> = (0..workers).map(|_| Vec::new()).collect();
        for change in self.pending.drain(..) {
            let slot = if workers == 1 {
                0
            } else {
                partition(&change) % workers
            };
            parts[slot].push(change);
        }
        self.txn_start = 0;
        self.rounds.push_back(Round {
            id,
            outstanding: parts.iter().filter(|p| !p.is_empty()).count(),
            checkpoint: self.pending_checkpoint.take(),
        });
        for (slot, rows) in parts.into_iter().enumerate() {
            if rows.is_empty() {
                continue;
            }
            let msg = ApplierMsg::Batch { round: id, rows };
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
        let index = self
            .rounds
            .front()
            .and_then(|front| done.round.checked_sub(front.id));
        if let Some(round) = index.and_then(|i| self.rounds.get_mut(i as usize)) {
            round.outstanding = round.outstanding.saturating_sub(1);
        }
        self.settle();
        Ok(())
    }

    /// Moves the checkpoint past every leading round that is fully committed.
    fn settle(&mut self) {
        while self.rounds.front().is_some_and(|r| r.outstanding == 0) {
            let round = self.rounds.pop_front().expect("checked above");
            if let Some(cp) = round.checkpoint {
                self.committed = cp;
                self.dirty = true;
            }
        }
        self.report(false);
    }

    /// Sends progress if it changed, at most every [`PROGRESS_INTERVAL`]
    /// unless `force`.
    fn report(&mut self, force: bool) {
        if !self.dirty {
            return;
        }
        if !force
            && self
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
    async fn shut_down(&mut self, clean: bool) {
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

impl Drop for Engine {
    /// If the engine's future is dropped (the supervisor gave up on it),
    /// its tasks stop too instead of replicating unsupervised.
    fn drop(&mut self) {
        self.source_stop.cancel();
        self.applier_abort.cancel();
    }
}

/// Which applier a change belongs to: by table and primary key, so every
/// change of one row goes to the same applier; tables without a primary key
/// in the binlog go whole to one applier.
fn partition(change: &RowChange) -> usize {
    let mut h = DefaultHasher::new();
    change.table.schema.hash(&mut h);
    change.table.name.hash(&mut h);
    let cells = match &change.op {
        RowOp::Insert(c) | RowOp::Delete(c) => c,
        RowOp::Update { after, .. } => after,
    };
    for &i in &change.table.primary_key {
        cells[i].hash(&mut h);
    }
    h.finish() as usize
}
