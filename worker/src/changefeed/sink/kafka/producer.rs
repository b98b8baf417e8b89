//! The producer side of the Kafka sink: encoding, size checks, partitions,
//! and waiting for the broker's acknowledgements.

use std::{sync::Arc, time::Duration};

use futures::{StreamExt, stream::FuturesOrdered};
use rdkafka::{
    error::{KafkaError, RDKafkaErrorCode},
    producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer},
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{
    codec::{DdlEvent, DdlEventKind, Message, Protocol, RowEvent},
    dispatcher::DispatchKind,
};
use crate::changefeed::{
    engine::{KafkaSinkSpec, ReplicationError},
    sink::{ApplierMsg, Done, sql::abbreviate},
    source::row::{Cell, RowChange, RowOp, TableInfo},
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
    producer: FutureProducer,
    spec: KafkaSinkSpec,
    partitions: i32,
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
        let producer: FutureProducer = config.create().map_err(|e| {
            ReplicationError::Fatal(format!("cannot build the Kafka producer: {e}"))
        })?;
        let topic = spec.topic.clone();
        let client = producer.clone();
        let partitions = tokio::task::spawn_blocking(move || {
            client
                .client()
                .fetch_metadata(Some(&topic), METADATA_TIMEOUT)
                .map(|md| {
                    md.topics()
                        .iter()
                        .find(|t| t.name() == topic)
                        .filter(|t| t.error().is_none())
                        .map_or(0, |t| t.partitions().len() as i32)
                })
        })
        .await
        .map_err(|e| ReplicationError::Retryable(format!("metadata lookup failed: {e}")))?
        .map_err(|e| {
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
        let mut deliveries = Vec::with_capacity(self.inner.partitions as usize);
        for partition in 0..self.inner.partitions {
            deliveries.push(self.send(&message, partition).await?);
        }
        await_deliveries(deliveries).await
    }

    /// Hands a round's rows to librdkafka; the returned futures resolve as
    /// the broker acknowledges them.
    async fn send_rows(
        &self,
        rows: &[RowChange],
        commit_ts: &[u64],
    ) -> Result<Vec<DeliveryFuture>, ReplicationError> {
        let dispatchers = &self.inner.spec.dispatchers;
        let mut deliveries = Vec::with_capacity(rows.len());
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
                let message = self.protocol().encode_row(&RowEvent {
                    change: part,
                    commit_ts: ts,
                });
                self.check_size(&message, || describe_row(part))?;
                let partition = kind.partition(part, ts, self.inner.partitions);
                deliveries.push(self.send(&message, partition).await?);
            }
        }
        Ok(deliveries)
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
                "{} encodes to a {size}-byte message, more than maxMessageBytes ({limit})",
                describe()
            )));
        }
        Ok(())
    }

    /// Enqueues one record, waiting while librdkafka's queue is full.
    async fn send(
        &self,
        message: &Message,
        partition: i32,
    ) -> Result<DeliveryFuture, ReplicationError> {
        let topic = &self.inner.spec.topic;
        loop {
            let mut record = FutureRecord::<[u8], [u8]>::to(topic)
                .payload(&message.value)
                .partition(partition);
            if let Some(key) = &message.key {
                record = record.key(key);
            }
            match self.inner.producer.send_result(record) {
                Ok(delivery) => return Ok(delivery),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                Err((err, _)) => return Err(delivery_error(&err)),
            }
        }
    }
}

/// Waits until the broker has acknowledged every delivery, in order.
async fn await_deliveries(deliveries: Vec<DeliveryFuture>) -> Result<(), ReplicationError> {
    for delivery in deliveries {
        match delivery.await {
            Ok(Ok(_)) => {}
            Ok(Err((err, _))) => return Err(delivery_error(&err)),
            Err(_) => {
                return Err(ReplicationError::Retryable(
                    "the Kafka producer shut down before acknowledging".into(),
                ));
            }
        }
    }
    Ok(())
}

/// Too large or not authorised will not pass by retrying; anything else (a
/// broker down, a timeout, a fenced idempotent producer) is retried from the
/// checkpoint with a new producer.
fn delivery_error(err: &KafkaError) -> ReplicationError {
    let message = format!("producing to Kafka failed: {err}");
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

/// `db.table` and its key, for a message that names the row.
fn describe_row(change: &RowChange) -> String {
    let table = &change.table;
    let cells = match &change.op {
        RowOp::Insert(c) | RowOp::Delete(c) => c,
        RowOp::Update { after, .. } => after,
    };
    let key: Vec<String> = table
        .primary_key
        .iter()
        .map(|&i| format!("{}={}", table.columns[i].name, show(&cells[i])))
        .collect();
    if key.is_empty() {
        format!(
            "a row of `{}`.`{}` (no primary key)",
            table.schema, table.name
        )
    } else {
        format!(
            "the row of `{}`.`{}` with key ({})",
            table.schema,
            table.name,
            key.join(", ")
        )
    }
}

fn show(cell: &Cell) -> String {
    match cell {
        Cell::Null => "NULL".into(),
        Cell::Int(v) => v.to_string(),
        Cell::UInt(v) => v.to_string(),
        Cell::Float(v) => v.to_string(),
        Cell::Double(v) => v.to_string(),
        Cell::Decimal(s) | Cell::Temporal(s) => s.clone(),
        Cell::Text { bytes, .. } => abbreviate(&String::from_utf8_lossy(bytes)),
        Cell::Bytes(b) => format!("0x{}", hex::encode(&b[..b.len().min(32)])),
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
                let sent = tokio::select! {
                    sent = sink.send_rows(&rows, &commit_ts) => sent,
                    () = abort.cancelled() => break,
                };
                match sent {
                    Ok(deliveries) => {
                        let (count, sent) = (rows.len(), deliveries.len());
                        messages += sent;
                        in_flight.push_back(async move {
                            (round, sent, await_deliveries(deliveries).await.map(|()| count))
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
