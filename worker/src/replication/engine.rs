//! The contract between the changefeed supervisor (leases, state, persistence)
//! and the replication engine (binlog source -> filter -> sink). The
//! supervisor calls [`run`] while it holds the changefeed's lease; the engine
//! reports progress and returns only when stopped or failing.

use tokio::sync::mpsc;

pub use super::fence::Fence;
use tokio_util::sync::CancellationToken;

/// What to replicate: built by the changefeed registry, which checks it at
/// request time, and taken as given here.
pub use ferry_entity::payload::Checkpoint;
pub use ferry_service::changefeeds::spec::{
    Dispatchers, Downstream, KafkaClientConfig, KafkaSinkSpec, MysqlEndpoint, Protocol,
    ReplicationSpec,
};

/// Where replication starts.
#[derive(Debug, Clone)]
pub enum StartFrom {
    /// Resume after a checkpoint.
    Checkpoint(Checkpoint),
    /// The first upstream change at or after this TSO.
    Tso(u64),
    /// The upstream's current end of binlog.
    Now,
}

/// Reported by the engine as it goes; the supervisor persists the latest.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// Everything up to here is committed downstream.
    pub checkpoint: Checkpoint,
    /// Everything up to this TSO has been read from the upstream.
    pub fetched_tso: u64,
    /// The newest change seen on the upstream.
    pub upstream_tso: u64,
    /// Rows applied downstream since the engine started.
    pub rows_applied: u64,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum ReplicationError {
    /// Will likely pass: upstream or downstream unreachable, deadlock, lost
    /// connection. The supervisor sets state Error and retries with backoff.
    #[error("{0}")]
    Retryable(String),
    /// Will not pass by retrying: schema mismatch, binlog purged past the
    /// checkpoint, compressed events, a row image that is not FULL.
    #[error("{0}")]
    Fatal(String),
    /// The lease could not be renewed in time, so another worker may take
    /// the changefeed over: the engine stopped writing (see `fence`). The
    /// supervisor gives the lease up.
    #[error("the changefeed's lease could not be renewed in time; the engine stopped writing")]
    Fenced,
}

/// Replicates until `stop` is cancelled (then returns `Ok` after the last
/// downstream commit has been reported), until `fence` passes (then returns
/// [`ReplicationError::Fenced`] having written nothing after it) or until an
/// error.
pub async fn run(
    spec: ReplicationSpec,
    start: StartFrom,
    progress: mpsc::Sender<Progress>,
    stop: CancellationToken,
    fence: Fence,
) -> Result<(), ReplicationError> {
    super::pipeline::run(spec, start, progress, stop, fence).await
}
