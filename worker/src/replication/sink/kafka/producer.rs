//! The producer side of the Kafka sink: encoding, size checks, partitions,
//! and waiting for the broker's acknowledgements.
//!
//! Acknowledgements are counted per round ([`RoundAcks`]) by the delivery
//! callback of a [`ThreadedProducer`], instead of one future per message:
//! the checkpoint only needs to know when a whole round is acknowledged,
//! and a oneshot channel per message was a measurable share of the CPU a
//! message costs.

use std::{
    sync::{
        Arc, OnceLock,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use futures::{StreamExt, stream::FuturesOrdered};
use rdkafka::{
    ClientContext,
    error::{KafkaError, RDKafkaErrorCode},
    message::Message as _,
    producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer},
};
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

use ferry_service::changefeeds::spec::{DispatchKind, Protocol};

use super::{
    codec::{DdlEvent, DdlEventKind, Encode, Message, RowEvent},
    dispatcher::{Dispatch, Partition},
};
use crate::replication::{
    engine::{KafkaSinkSpec, ReplicationError},
    sink::{ApplierMsg, Done, abbreviate},
    source::row::{RowChange, RowOp, TableInfo},
};

/// How long the broker may take to acknowledge a message before the
/// changefeed errs (and retries from its checkpoint).
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long connecting and reading the topic's metadata may take.
const METADATA_TIMEOUT: Duration = Duration::from_secs(10);
/// Messages handed to librdkafka but not yet acknowledged, over all rounds
/// in flight. Waiting for acknowledgements is what bounds a catch-up, so
/// this is librdkafka's own queue limit (`queue.buffering.max.messages`,
/// 100,000), the most it holds anyway; a count of rounds instead (32 was
/// tried) left the producer waiting with small transactions in flight.
const MESSAGES_IN_FLIGHT: usize = 100_000;

/// A connected producer for one changefeed's topic; cheap to clone.
#[derive(Clone)]
pub(crate) struct KafkaSink {
    inner: Arc<Inner>,
}

struct Inner {
    producer: ThreadedProducer<AckCounter>,
    spec: KafkaSinkSpec,
    partitions: i32,
}

/// The broker's acknowledgements of one round's messages.
///
/// `pending` starts at one for the sender, who releases it with
/// [`RoundAcks::sealed`] once every message is handed to librdkafka, so the
/// count cannot reach zero while messages are still being added.
struct RoundAcks {
    pending: AtomicUsize,
    /// The first delivery error of the round; later ones add nothing.
    error: OnceLock<ReplicationError>,
    /// Woken when the count reaches zero or an error is recorded.
    settled: Notify,
}

impl RoundAcks {
    fn new() -> Arc<RoundAcks> {
        Arc::new(RoundAcks {
            pending: AtomicUsize::new(1),
            error: OnceLock::new(),
            settled: Notify::new(),
        })
    }

    /// One more message is handed to librdkafka for this round.
    fn add(self: &Arc<Self>) -> Arc<RoundAcks> {
        self.pending.fetch_add(1, Ordering::Relaxed);
        self.clone()
    }

    /// Counts one message as settled (acknowledged or failed).
    fn settle_one(&self) {
        if self.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.settled.notify_one();
        }
    }

    fn fail(&self, error: ReplicationError) {
        if self.error.set(error).is_ok() {
            self.settled.notify_one();
        }
    }

    /// The sender is done adding messages: waits for every acknowledgement,
    /// or for the first error.
    async fn sealed(self: Arc<Self>) -> Result<(), ReplicationError> {
        self.settle_one();
        loop {
            if let Some(error) = self.error.get() {
                return Err(error.clone());
            }
            if self.pending.load(Ordering::Acquire) == 0 {
                return Ok(());
            }
            // `notify_one` keeps a permit when nobody waits, so a wake-up
            // between the checks above and this await is not lost.
            self.settled.notified().await;
        }
    }
}

/// The producer's context: each message carries its round's [`RoundAcks`].
struct AckCounter;

impl ClientContext for AckCounter {}

impl ProducerContext for AckCounter {
    type DeliveryOpaque = Arc<RoundAcks>;

    fn delivery(&self, result: &DeliveryResult<'_>, round: Arc<RoundAcks>) {
        if let Err((err, message)) = result {
            round.fail(delivery_error(err, message.topic()));
        }
        round.settle_one();
    }
}

impl KafkaSink {
    /// Builds the idempotent producer and reads the topic's partition count.
    pub async fn open(spec: &KafkaSinkSpec) -> Result<KafkaSink, ReplicationError> {
        let mut config = spec.client.0.clone();
        let message_max = spec
            .max_message_bytes
            .saturating_add(1024)
            .clamp(1000, 1_000_000_000);
        config
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "5")
            .set(
                "batch.num.messages",
                spec.max_batch_size.clamp(1, 1_000_000).to_string(),
            )
            .set("message.max.bytes", message_max.to_string())
            .set(
                "message.timeout.ms",
                DELIVERY_TIMEOUT.as_millis().to_string(),
            );
        let producer: ThreadedProducer<AckCounter> =
            config.create_with_context(AckCounter).map_err(|e| {
                ReplicationError::Fatal(format!("cannot build the Kafka producer: {e}"))
            })?;
        // The lookup blocks, so it runs on the blocking pool, which hands
        // the producer back with the answer.
        let topic = spec.topic.clone();
        let (producer, partitions) = tokio::task::spawn_blocking(move || {
            let partitions = producer
                .client()
                .fetch_metadata(Some(&topic), METADATA_TIMEOUT)
                .map(|md| {
                    md.topics()
                        .iter()
                        .find(|t| t.name() == topic)
                        .filter(|t| t.error().is_none())
                        .map_or(0, |t| t.partitions().len() as i32)
                });
            (producer, partitions)
        })
        .await
        .map_err(|e| ReplicationError::Retryable(format!("metadata lookup failed: {e}")))?;
        let partitions = partitions.map_err(|e| {
            ReplicationError::Retryable(format!("cannot read the Kafka downstream's metadata: {e}"))
        })?;
        if partitions == 0 {
            return Err(ReplicationError::Retryable(format!(
                "topic `{}` does not exist on the Kafka downstream",
                spec.topic
            )));
        }
        Ok(KafkaSink {
            inner: Arc::new(Inner {
                producer,
                spec: spec.clone(),
                partitions,
            }),
        })
    }

    fn protocol(&self) -> Protocol {
        self.inner.spec.protocol
    }

    /// Publishes a DDL to every partition, so that each partition's
    /// consumer sees it between the changes before and after it, and waits
    /// for the acknowledgements.
    pub async fn publish_ddl(
        &self,
        schema: &str,
        table: Option<&str>,
        sql: &str,
        kind: DdlEventKind,
        commit_ts: u64,
    ) -> Result<(), ReplicationError> {
        let message = self.protocol().encode_ddl(&DdlEvent {
            schema,
            table,
            sql,
            kind,
            commit_ts,
        });
        let describe = || format!("the DDL `{}`", abbreviate(sql));
        self.check_size(&message, describe)?;
        let acks = RoundAcks::new();
        for partition in 0..self.inner.partitions {
            self.send(&message, partition, &acks).await?;
        }
        acks.sealed().await
    }

    /// Hands a round's rows to librdkafka, each counted in `acks`; returns
    /// how many messages that made.
    async fn send_rows(
        &self,
        rows: &[RowChange],
        commit_ts: &[u64],
        acks: &Arc<RoundAcks>,
    ) -> Result<usize, ReplicationError> {
        let dispatchers = &self.inner.spec.dispatchers;
        let mut encoder = self.protocol().row_encoder();
        let mut sent = 0;
        // Consecutive rows nearly always share their table's `Arc`.
        let mut last: Option<(&Arc<TableInfo>, DispatchKind)> = None;
        for (change, &ts) in rows.iter().zip(commit_ts) {
            let kind = match last {
                Some((table, kind)) if Arc::ptr_eq(table, &change.table) => kind,
                _ => {
                    let kind = dispatchers.resolve(&change.table);
                    last = Some((&change.table, kind));
                    kind
                }
            };
            let split;
            let parts: &[RowChange] = match &change.op {
                // With per-key partitions, a key change is a delete of the
                // old key and an insert of the new one, each in its key's
                // partition, so that both keys keep their order.
                RowOp::Update { before, after }
                    if kind.by_key()
                        && change
                            .table
                            .primary_key
                            .iter()
                            .any(|&i| before[i] != after[i]) =>
                {
                    split = [
                        RowChange {
                            table: change.table.clone(),
                            op: RowOp::Delete(before.clone()),
                        },
                        RowChange {
                            table: change.table.clone(),
                            op: RowOp::Insert(after.clone()),
                        },
                    ];
                    &split
                }
                _ => std::slice::from_ref(change),
            };
            for part in parts {
                let message = encoder.encode(&RowEvent {
                    change: part,
                    commit_ts: ts,
                });
                self.check_size(&message, || describe_row(part))?;
                let partition = kind.partition(part, ts, self.inner.partitions);
                self.send(&message, partition, acks).await?;
                sent += 1;
            }
        }
        Ok(sent)
    }

    /// A record larger than `maxMessageBytes` fails the changefeed: dropping
    /// it would lose a change, and retrying cannot make it fit.
    fn check_size(
        &self,
        message: &Message,
        describe: impl FnOnce() -> String,
    ) -> Result<(), ReplicationError> {
        let size = message.value.len() + message.key.as_ref().map_or(0, Vec::len);
        let limit = self.inner.spec.max_message_bytes;
        if size > limit {
            return Err(ReplicationError::Fatal(format!(
                "{} encodes to a {size}-byte message for topic {}, more than maxMessageBytes \
                 ({limit})",
                describe(),
                self.inner.spec.topic
            )));
        }
        Ok(())
    }

    /// Enqueues one record counted in `acks`, waiting while librdkafka's
    /// queue is full.
    async fn send(
        &self,
        message: &Message,
        partition: i32,
        acks: &Arc<RoundAcks>,
    ) -> Result<(), ReplicationError> {
        let topic = &self.inner.spec.topic;
        let mut record = BaseRecord::<[u8], [u8], _>::with_opaque_to(topic, acks.add())
            .payload(&message.value)
            .partition(partition);
        if let Some(key) = &message.key {
            record = record.key(key);
        }
        loop {
            match self.inner.producer.send(record) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                Err((err, back)) => {
                    // Not handed over: it will never be acknowledged.
                    back.delivery_opaque.settle_one();
                    return Err(delivery_error(&err, topic));
                }
            }
        }
    }
}

/// Too large or not authorised will not pass by retrying; anything else (a
/// broker down, a timeout, a fenced idempotent producer) is retried from the
/// checkpoint with a new producer.
/// The message names the topic; librdkafka's errors carry a code and its
/// text, never the record.
fn delivery_error(err: &KafkaError, topic: &str) -> ReplicationError {
    let message = format!("producing to Kafka topic {topic} failed: {err}");
    match err.rdkafka_error_code() {
        Some(
            RDKafkaErrorCode::MessageSizeTooLarge
            | RDKafkaErrorCode::InvalidMessageSize
            | RDKafkaErrorCode::TopicAuthorizationFailed
            | RDKafkaErrorCode::ClusterAuthorizationFailed,
        ) => ReplicationError::Fatal(message),
        _ => ReplicationError::Retryable(message),
    }
}

/// `db.table` and its key columns, for a message about a row: names only,
/// since the message is stored on the changefeed and logged, and the row's
/// values (its key included) may be anything the upstream holds.
fn describe_row(change: &RowChange) -> String {
    let table = &change.table;
    let key: Vec<&str> = table
        .primary_key
        .iter()
        .map(|&i| table.columns[i].name.as_str())
        .collect();
    if key.is_empty() {
        format!(
            "a row of `{}`.`{}` (no primary key)",
            table.schema, table.name
        )
    } else {
        format!(
            "a row of `{}`.`{}` (key columns {})",
            table.schema,
            table.name,
            key.join(", ")
        )
    }
}

/// Produces the batches from `rx` until it closes (then waits for what is
/// in flight) or `abort` fires, reporting each round to `done` once the
/// broker has acknowledged all of it. After an error the applier stops.
pub(crate) async fn run_applier(
    sink: KafkaSink,
    mut rx: mpsc::Receiver<ApplierMsg>,
    done: mpsc::UnboundedSender<Done>,
    abort: CancellationToken,
) {
    let mut in_flight = FuturesOrdered::new();
    let mut messages = 0;
    let mut open = true;
    while open || !in_flight.is_empty() {
        tokio::select! {
            biased;
            () = abort.cancelled() => break,
            Some((round, sent, result)) = in_flight.next(), if !in_flight.is_empty() => {
                let result: Result<usize, ReplicationError> = result;
                messages -= sent;
                let failed = result.is_err();
                if let Err(error) = &result {
                    tracing::warn!(round, %error, "kafka delivery failed");
                }
                if done.send(Done { round, result }).is_err() || failed {
                    break;
                }
            }
            msg = rx.recv(), if open && messages < MESSAGES_IN_FLIGHT => {
                let Some(msg) = msg else {
                    open = false;
                    continue;
                };
                let ApplierMsg::Batch { round, rows, commit_ts } = msg else {
                    continue;
                };
                let acks = RoundAcks::new();
                let sent = tokio::select! {
                    sent = sink.send_rows(&rows, &commit_ts, &acks) => sent,
                    () = abort.cancelled() => break,
                };
                match sent {
                    Ok(sent) => {
                        let count = rows.len();
                        messages += sent;
                        in_flight.push_back(async move {
                            (round, sent, acks.sealed().await.map(|()| count))
                        });
                    }
                    Err(error) => {
                        tracing::warn!(round, %error, "kafka sink failed");
                        let _ = done.send(Done { round, result: Err(error) });
                        break;
                    }
                }
            }
        }
    }
    // Whatever librdkafka still holds is not reported: it is after the
    // checkpoint and is produced again on the next run.
    let _ = sink.inner.producer.flush(Duration::from_millis(0));
}
