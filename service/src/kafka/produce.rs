//! Producing records to a registered cluster for the REST Proxy dialects
//! (v2's `POST /topics/{t}[/partitions/{p}]`, v3's `.../records`): one
//! librdkafka producer per cluster client, built on first use.
//!
//! Records are handed to librdkafka in request order and their delivery
//! reports are awaited together, so that one call is one batch on the wire
//! and records of the same partition keep their order. A record without a
//! partition goes where librdkafka's `murmur2_random` partitioner puts it:
//! the Java client's default for a keyed record (murmur2 of the key), so
//! that HTTP and native producers agree on a key's partition, and a random
//! partition for a record without a key.
//!
//! Producing is data, not a change to the cluster: it is not a task and not
//! audited; the API counts it in `/metrics` (`ferry_produced_records_total`).

use std::{sync::Arc, time::Duration};

use rdkafka::{
    error::{KafkaError, RDKafkaErrorCode},
    message::{Header, OwnedHeaders},
    producer::{FutureProducer, FutureRecord, Producer, future_producer::OwnedDeliveryResult},
};

use super::{KafkaCluster, admin::AdminError, is_transient_code};

/// How long a record may wait in librdkafka (queued, in flight, retried)
/// before its delivery is reported as failed: a REST call is answered
/// within this, never after librdkafka's default of five minutes.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(15);

/// How long a topic's partition count is trusted before the cluster is
/// asked again: a produce call checks the topic and partition it names, and
/// asking the cluster every call would double the calls' cost.
pub const PARTITIONS_TTL: Duration = Duration::from_secs(2);

/// One record to produce.
#[derive(Debug, Clone, Default)]
pub struct OutgoingRecord {
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    /// `None`: the partitioner chooses.
    pub partition: Option<i32>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    /// Milliseconds since the epoch; `None`: the producer's clock.
    pub timestamp: Option<i64>,
}

/// Where a record landed, or why it did not.
#[derive(Debug, Clone)]
pub enum Delivery {
    Written {
        partition: i32,
        offset: i64,
        /// Milliseconds since the epoch, as the broker or producer set it.
        timestamp: Option<i64>,
    },
    Failed {
        /// Whether sending the same record again may succeed.
        retriable: bool,
        message: String,
    },
}

/// The settings of a cluster's producer, on top of its client settings.
pub(super) fn producer_settings(config: &mut rdkafka::ClientConfig) {
    config
        .set("acks", "all")
        .set("partitioner", "murmur2_random")
        // A produce call names its topic; it must never create one on a
        // broker with `auto.create.topics.enable` (librdkafka's producer
        // default is to allow it).
        .set("allow.auto.create.topics", "false")
        .set("linger.ms", "2")
        .set(
            "message.timeout.ms",
            DELIVERY_TIMEOUT.as_millis().to_string(),
        );
}

/// The partition count of `topic`, or `None` when the cluster does not have
/// it; answered from a short-lived cache (`PARTITIONS_TTL`).
pub async fn partition_count(
    cluster: &Arc<KafkaCluster>,
    topic: &str,
    timeout: Duration,
) -> Result<Option<i32>, AdminError> {
    if let Some(known) = cluster.partition_counts.get(topic) {
        return Ok(known);
    }
    let producer = cluster.producer().await?;
    let name = topic.to_owned();
    let count = super::admin::blocking(timeout, move || {
        let md = producer.client().fetch_metadata(Some(&name), timeout)?;
        Ok(md
            .topics()
            .iter()
            .find(|t| t.name() == name && t.error().is_none())
            .map(|t| i32::try_from(t.partitions().len()).unwrap_or(i32::MAX)))
    })
    .await?;
    cluster.partition_counts.insert(topic.to_owned(), count);
    Ok(count)
}

/// Produces `records` to `topic`, answering one delivery per record in
/// request order.
pub async fn produce(
    cluster: &Arc<KafkaCluster>,
    topic: &str,
    records: Vec<OutgoingRecord>,
) -> Result<Vec<Delivery>, AdminError> {
    let producer = cluster.producer().await?;
    let mut reports = Vec::with_capacity(records.len());
    for record in &records {
        reports.push(enqueue(&producer, topic, record).await);
    }
    let mut deliveries = Vec::with_capacity(reports.len());
    for report in reports {
        deliveries.push(match report {
            Enqueued::Sent(future) => match future.await {
                Ok(result) => delivery(result),
                Err(_) => Delivery::Failed {
                    retriable: true,
                    message: "the producer was closed before the record was delivered".into(),
                },
            },
            Enqueued::Refused(err) => failed(&err),
        });
    }
    Ok(deliveries)
}

enum Enqueued {
    Sent(rdkafka::producer::DeliveryFuture),
    Refused(KafkaError),
}

/// Hands one record to librdkafka, waiting while its queue is full.
async fn enqueue(producer: &FutureProducer, topic: &str, record: &OutgoingRecord) -> Enqueued {
    let mut headers = OwnedHeaders::new_with_capacity(record.headers.len());
    for (key, value) in &record.headers {
        headers = headers.insert(Header {
            key,
            value: value.as_deref(),
        });
    }
    let mut future_record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(topic).headers(headers);
    if let Some(key) = &record.key {
        future_record = future_record.key(key.as_slice());
    }
    if let Some(value) = &record.value {
        future_record = future_record.payload(value.as_slice());
    }
    if let Some(partition) = record.partition {
        future_record = future_record.partition(partition);
    }
    if let Some(timestamp) = record.timestamp {
        future_record = future_record.timestamp(timestamp);
    }
    let deadline = tokio::time::Instant::now() + DELIVERY_TIMEOUT;
    loop {
        match producer.send_result(future_record) {
            Ok(future) => return Enqueued::Sent(future),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back))
                if tokio::time::Instant::now() < deadline =>
            {
                // librdkafka's queue drains as deliveries complete.
                future_record = back;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err((err, _)) => return Enqueued::Refused(err),
        }
    }
}

fn delivery(result: OwnedDeliveryResult) -> Delivery {
    match result {
        Ok(d) => Delivery::Written {
            partition: d.partition,
            offset: d.offset,
            timestamp: d.timestamp.to_millis(),
        },
        Err((err, _)) => failed(&err),
    }
}

fn failed(err: &KafkaError) -> Delivery {
    let retriable = err.rdkafka_error_code().is_some_and(|code| {
        is_transient_code(code)
            || matches!(
                code,
                RDKafkaErrorCode::MessageTimedOut
                    | RDKafkaErrorCode::QueueFull
                    | RDKafkaErrorCode::NotEnoughReplicasAfterAppend
            )
    });
    Delivery::Failed {
        retriable,
        message: err.to_string(),
    }
}
