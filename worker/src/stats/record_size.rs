//! The mean size of a topic's newest records, for the byte rates of
//! clusters whose brokers do not report log sizes: the newest record of a
//! partition is fetched with a plain consumer (no group, nothing
//! committed) and its key, value and headers measured.

use std::{
    collections::{HashMap, HashSet},
    time::{Duration, Instant},
};

use rdkafka::{
    ClientConfig, Offset, TopicPartitionList,
    consumer::{BaseConsumer, Consumer},
    message::{Headers, Message},
};

/// One partition to read, at the offset of its newest record.
#[derive(Debug, Clone)]
pub struct Newest {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

/// The mean record size of each topic whose newest record arrived within
/// `budget`. Runs on tokio's blocking pool.
pub async fn mean_sizes(
    config: ClientConfig,
    wanted: Vec<Newest>,
    budget: Duration,
) -> HashMap<String, f64> {
    if wanted.is_empty() {
        return HashMap::new();
    }
    let fetch = tokio::task::spawn_blocking(move || fetch(config, &wanted, budget));
    match tokio::time::timeout(budget + Duration::from_secs(5), fetch).await {
        Ok(sizes) => sizes.unwrap_or_default(),
        Err(_) => {
            tracing::warn!(
                "fetching the newest records took too long; no record sizes this sample"
            );
            HashMap::new()
        }
    }
}

fn fetch(mut config: ClientConfig, wanted: &[Newest], budget: Duration) -> HashMap<String, f64> {
    // A group id the consumer never joins (it is assigned partitions, not
    // subscribed, and commits nothing): librdkafka's consumer close waits
    // on a group handle, which a consumer without a group id lacks.
    config
        .set("group.id", "ferry-stats-probe")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false")
        .set("fetch.wait.max.ms", "100");
    let consumer: BaseConsumer = match config.create() {
        Ok(c) => c,
        Err(err) => {
            tracing::warn!(error = %err, "cannot build the statistics consumer");
            return HashMap::new();
        }
    };
    let mut list = TopicPartitionList::new();
    for w in wanted {
        if list
            .add_partition_offset(&w.topic, w.partition, Offset::Offset(w.offset))
            .is_err()
        {
            return HashMap::new();
        }
    }
    if consumer.assign(&list).is_err() {
        return HashMap::new();
    }
    let mut pending: HashSet<(String, i32)> = wanted
        .iter()
        .map(|w| (w.topic.clone(), w.partition))
        .collect();
    let mut sums: HashMap<String, (f64, u32)> = HashMap::new();
    let deadline = Instant::now() + budget;
    while !pending.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        let Some(Ok(message)) = consumer.poll(left.min(Duration::from_millis(100))) else {
            continue;
        };
        let key = (message.topic().to_owned(), message.partition());
        if !pending.remove(&key) {
            continue;
        }
        let headers = message.headers().map_or(0, |h| {
            h.iter()
                .map(|h| h.key.len() + h.value.map_or(0, <[u8]>::len))
                .sum()
        });
        let size = message.key_len() + message.payload_len() + headers;
        let entry = sums.entry(key.0).or_default();
        entry.0 += size as f64;
        entry.1 += 1;
    }
    sums.into_iter()
        .map(|(topic, (sum, n))| (topic, sum / f64::from(n)))
        .collect()
}
