//! Produce and consume at a known rate; the statistics show it.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use ferry_tests::{Backend, both_backends, eventually, kafka::TestKafka};
use rdkafka::{
    ClientConfig,
    consumer::{CommitMode, Consumer, StreamConsumer},
    error::RDKafkaErrorCode,
    producer::{FutureProducer, FutureRecord},
};
use serde_json::Value;

use crate::helpers::{INTERVAL_SECONDS, WAIT, points, start, statistics};

const TOPIC: &str = "stats-rates";
const GROUP: &str = "stats-readers";
/// One record of this many bytes every 100 ms: 10,000 B/s.
const RECORD_BYTES: usize = 1000;
const PERIOD: Duration = Duration::from_millis(100);
const PACE: f64 = RECORD_BYTES as f64 * 10.0;

fn config(kafka: &TestKafka) -> ClientConfig {
    let mut config = kafka.client_config();
    config.set("socket.timeout.ms", "10000");
    config
}

/// Produces one record per batch (tansu counts a batch as one offset) at
/// `PERIOD` until `stop`, or `count` records when given; returns how many.
async fn produce(config: ClientConfig, stop: Arc<AtomicBool>, count: Option<usize>) -> usize {
    let producer: FutureProducer = config
        .clone()
        .set("linger.ms", "0")
        .set("message.timeout.ms", "10000")
        .create()
        .expect("producer");
    let payload = vec![b'x'; RECORD_BYTES];
    let mut tick = tokio::time::interval(PERIOD);
    let mut sent = 0;
    while !stop.load(Ordering::Relaxed) && count.is_none_or(|c| sent < c) {
        tick.tick().await;
        producer
            .send(
                FutureRecord::<(), [u8]>::to(TOPIC)
                    .partition(0)
                    .payload(&payload),
                Duration::from_secs(10),
            )
            .await
            .map_err(|(e, _)| e)
            .expect("record acknowledged");
        sent += 1;
    }
    sent
}

/// Joins the group (setting `joined` once it has its partition), then
/// consumes and commits every record as it arrives, until `stop`; returns
/// the offset the group committed.
async fn consume(config: ClientConfig, joined: Arc<AtomicBool>, stop: Arc<AtomicBool>) -> usize {
    let consumer: StreamConsumer = config
        .clone()
        .set("group.id", GROUP)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "30000")
        .create()
        .expect("consumer");
    consumer.subscribe(&[TOPIC]).expect("subscribe");
    while consumer.assignment().map_or(0, |a| a.count()) == 0 {
        let _ = tokio::time::timeout(Duration::from_millis(100), consumer.recv()).await;
    }
    joined.store(true, Ordering::Relaxed);
    let mut read = 0;
    while !stop.load(Ordering::Relaxed) {
        let Ok(Ok(message)) =
            tokio::time::timeout(Duration::from_millis(200), consumer.recv()).await
        else {
            continue;
        };
        // Async: a blocking commit would stall the producer on this
        // single-threaded runtime. The last one is made synchronously below.
        consumer
            .commit_message(&message, CommitMode::Async)
            .expect("commit");
        read += 1;
    }
    // "No offset" means every position was committed already.
    if let Err(err) = consumer.commit_consumer_state(CommitMode::Sync) {
        assert_eq!(
            err.rdkafka_error_code(),
            Some(RDKafkaErrorCode::NoOffset),
            "final commit: {err}"
        );
    }
    assert!(read > 0, "the consumer read nothing");
    // The group's committed offset, not the count read: a `recv` cut short
    // by the timeout above may have taken a record the loop never counted,
    // and the final commit covers the consumer's position.
    let committed = consumer
        .committed(Duration::from_secs(10))
        .expect("the committed offsets");
    committed
        .elements_for_topic(TOPIC)
        .iter()
        .map(|e| e.offset().to_raw().unwrap_or(0).max(0) as usize)
        .sum()
}

/// The mean of a rate series' points whose step lies wholly within
/// `from..=to` (epoch seconds): the steady part of the traffic.
fn steady_mean(series: &Value, (from, to): (i64, i64)) -> f64 {
    let inner: Vec<f64> = points(series)
        .into_iter()
        .filter(|(t, _)| *t - INTERVAL_SECONDS >= from && *t <= to)
        .map(|(_, v)| v)
        .collect();
    assert!(
        inner.len() >= 3,
        "too few points within {from}..{to}: {series}"
    );
    inner.iter().sum::<f64>() / inner.len() as f64
}

async fn known_rates_and_lag(backend: Backend) {
    let (kafka, app, cluster) = start(backend).await;
    let token = app.admin_token.clone();
    kafka.create_topic(TOPIC, 1).await;
    let (joined, stop) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let reader = tokio::spawn(consume(config(&kafka), joined.clone(), stop.clone()));
    eventually("the consumer joined its group", WAIT, || async {
        if joined.load(Ordering::Relaxed) {
            Ok(())
        } else {
            Err("not yet")
        }
    })
    .await;
    let began = Instant::now();
    let from = chrono::Utc::now().timestamp();
    let writer = tokio::spawn(produce(config(&kafka), stop.clone(), None));
    // Five intervals of steady traffic.
    tokio::time::sleep(Duration::from_secs(5 * INTERVAL_SECONDS as u64 + 3)).await;
    let to = chrono::Utc::now().timestamp();
    stop.store(true, Ordering::Relaxed);
    let produced = writer.await.expect("producer");
    let elapsed = began.elapsed().as_secs_f64();
    let consumed = reader.await.expect("consumer");
    // The rate the producer reached (close to its 10,000 B/s pace).
    let rate = (produced * RECORD_BYTES) as f64 / elapsed;
    assert!(
        (rate - PACE).abs() < 0.2 * PACE,
        "the producer reached only {rate} B/s"
    );

    let window = (-120, 60);
    let byte_in = statistics(&app, &token, &cluster, "BYTE_IN_RATE", TOPIC, window)
        .await
        .expect(200);
    assert_eq!(byte_in["metricsType"], "BYTE_IN_RATE");
    assert_eq!(byte_in["step"], INTERVAL_SECONDS, "{byte_in}");
    let series = &byte_in["data"][0];
    assert_eq!(series["labels"]["topic"], TOPIC, "{byte_in}");
    let mean_in = steady_mean(series, (from, to));
    assert!(
        (mean_in - rate).abs() <= 0.2 * rate,
        "BYTE_IN_RATE {mean_in} is not within 20% of {rate}: {byte_in}"
    );
    let byte_out = statistics(&app, &token, &cluster, "BYTE_OUT_RATE", TOPIC, window)
        .await
        .expect(200);
    let mean_out = steady_mean(&byte_out["data"][0], (from, to));
    assert!(
        (mean_out - rate).abs() <= 0.2 * rate,
        "BYTE_OUT_RATE {mean_out} is not within 20% of {rate}: {byte_out}"
    );

    // With the consumer gone, seven more records are lag: end offset
    // minus the committed offset.
    produce(config(&kafka), Arc::new(AtomicBool::new(false)), Some(7)).await;
    let total = (produced + 7) as f64;
    let committed = consumed as f64;
    let (lag, count) = eventually("a sample after the last records", WAIT, || async {
        let lag = statistics(&app, &token, &cluster, "CONSUMER_LAG", TOPIC, window)
            .await
            .expect(200);
        let count = statistics(&app, &token, &cluster, "MESSAGE_COUNT", TOPIC, window)
            .await
            .expect(200);
        let last = |body: &Value| {
            let point = body["data"][0]["values"].as_array()?.last()?;
            Some((point["timestamp"].as_i64()?, point["value"].as_f64()?))
        };
        // The lag of the sample that counted every record: the two series
        // are read one after the other, and a sample may land between.
        match (last(&count), last(&lag)) {
            (Some((at, value)), Some((lag_at, _))) if value == total && lag_at >= at => {
                Ok((lag, count))
            }
            _ => Err(serde_json::json!({ "count": count, "lag": lag })),
        }
    })
    .await;
    assert_eq!(count["data"].as_array().map(Vec::len), Some(1), "{count}");
    let series = &lag["data"][0];
    assert_eq!(series["labels"]["topic"], TOPIC, "{lag}");
    assert_eq!(series["labels"]["consumergroup"], GROUP, "{lag}");
    let last = points(series).last().copied().expect("a lag point").1;
    assert_eq!(last, total - committed, "lag is end minus committed: {lag}");
    assert!(last >= 7.0, "{lag}");

    // tansu does not answer DescribeLogDirs: no log size series.
    let sizes = statistics(
        &app,
        &token,
        &cluster,
        "LOG_SIZE_PER_PARTITION",
        TOPIC,
        window,
    )
    .await
    .expect(200);
    assert_eq!(sizes["data"], serde_json::json!([]), "{sizes}");

    // The sampler keeps up and says so in /metrics.
    let text = app.get("/metrics").await.text;
    assert!(
        text.contains(&format!(
            "ferry_stats_sampler_behind{{cluster=\"{cluster}\"}} 0"
        )),
        "{text}"
    );
    assert!(text.contains("ferry_stats_sample_age_seconds"), "{text}");
}

both_backends!(known_rates_and_lag);
