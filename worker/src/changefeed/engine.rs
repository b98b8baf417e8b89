//! The contract between the changefeed supervisor (leases, state, persistence)
//! and the replication engine (binlog source -> filter -> sink). The
//! supervisor calls [`run`] while it holds the changefeed's lease; the engine
//! reports progress and returns only when stopped or failing.

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::clusters::Tls;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub use super::sink::kafka::{codec::Protocol, dispatcher::Dispatchers};

/// How to reach a MySQL-protocol server (MariaDB, MySQL or TiDB).
#[derive(Debug, Clone)]
pub struct MysqlEndpoint {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: Option<SecretString>,
    /// TLS, when the server is reached over it: the CA to trust (else the
    /// public roots) and whether to skip verification.
    pub tls: Option<Tls>,
}

/// Where a changefeed's changes go.
#[derive(Debug, Clone)]
pub enum Downstream {
    /// MySQL or TiDB, written over the MySQL protocol.
    Mysql(MysqlEndpoint),
    /// A Kafka topic.
    Kafka(KafkaSinkSpec),
}

/// How to reach a Kafka topic and what to write to it.
#[derive(Debug, Clone)]
pub struct KafkaSinkSpec {
    /// librdkafka client settings (bootstrap servers, security, client id);
    /// may hold a SASL password, so it is never printed.
    pub client: KafkaClientConfig,
    pub topic: String,
    pub protocol: Protocol,
    pub dispatchers: Dispatchers,
    /// The largest record (key and value) the changefeed may produce.
    pub max_message_bytes: usize,
    /// At most this many messages in one producer batch (librdkafka
    /// `batch.num.messages`).
    pub max_batch_size: usize,
}

/// librdkafka settings whose `Debug` shows nothing: they may carry secrets.
#[derive(Clone)]
pub struct KafkaClientConfig(pub rdkafka::ClientConfig);

impl std::fmt::Debug for KafkaClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KafkaClientConfig(..)")
    }
}

/// Everything the engine needs to replicate one changefeed.
#[derive(Debug, Clone)]
pub struct ReplicationSpec {
    pub changefeed_id: String,
    pub upstream: MysqlEndpoint,
    pub downstream: Downstream,
    /// TiDB table-filter rules; see `filter.rs`.
    pub rules: Vec<String>,
    /// Parallel appliers downstream (TiEM `workerCount`), at least 1.
    pub worker_count: usize,
    /// Most rows applied in one downstream transaction (TiEM `maxTxnRow`).
    pub max_txn_rows: usize,
    /// A server id for the binlog connection, unique among the upstream's
    /// replicas and ferry's other connections.
    pub server_id: u32,
}

/// A position in the upstream binlog such that every change before it has
/// been committed downstream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Checkpoint {
    pub file: String,
    pub position: u64,
    /// MariaDB GTID position (`domain-server-seq[,...]`) when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gtid: Option<String>,
    /// TiDB TSO of the last committed upstream transaction.
    pub tso: u64,
}

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
}

/// Replicates until `stop` is cancelled (then returns `Ok` after the last
/// downstream commit has been reported) or until an error.
pub async fn run(
    spec: ReplicationSpec,
    start: StartFrom,
    progress: mpsc::Sender<Progress>,
    stop: CancellationToken,
) -> Result<(), ReplicationError> {
    super::pipeline::run(spec, start, progress, stop).await
}
