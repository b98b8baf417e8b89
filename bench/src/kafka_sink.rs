//! `ferry-bench kafka-sink`: messages/s produced by a changefeed into Kafka
//! (canal-json) from an upstream insert backlog, beside a raw rdkafka
//! producer sending the same number of messages of the same size, with the
//! same delivery guarantees (idempotent, acks=all) and the same partitions,
//! to the same tansu broker (the limit).

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use ferry_tests::{kafka::TestKafka, mariadb::MariaDb};
use rdkafka::{
    Message,
    admin::{AdminClient, AdminOptions, NewTopic, TopicReplication},
    client::DefaultClientContext,
    consumer::{BaseConsumer, Consumer},
    producer::{FutureProducer, FutureRecord},
};
use serde_json::{Value, json};
use sqlx::{Connection, MySqlConnection};

use crate::{
    changefeed::{create_changefeed, insert_rows, operate},
    stats,
};

/// The goal: the changefeed reaches at least 0.7 of the raw producer's rate.
const GOAL: f64 = 0.7;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Upstream rows, hence messages, on each side. The default makes the
    /// catch-up last about 1.5 s: with fewer rows the checkpoint, reported
    /// every 100 ms, weighs on ferry's time (0.1 at 50,000 rows), and the
    /// figure no longer says anything about the sink.
    #[arg(long, default_value_t = 1_000_000)]
    pub rows: usize,
    /// Rows per upstream INSERT statement.
    #[arg(long, default_value_t = 500)]
    pub batch: usize,
    /// Partitions of both topics.
    #[arg(long, default_value_t = 3)]
    pub partitions: i32,
    #[arg(long)]
    pub bin_dir: Option<std::path::PathBuf>,
    #[arg(long, default_value = "warn")]
    pub ferry_log: String,
    /// Write ferry's logs into this directory instead of discarding them.
    #[arg(long)]
    pub log_dir: Option<std::path::PathBuf>,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let launch = crate::ferry::default_launch(
        args.bin_dir.as_deref(),
        &args.ferry_log,
        args.log_dir.as_deref(),
    )?;
    let tansu = TestKafka::start().await;
    let upstream = MariaDb::start().await;
    let db = format!(
        "bench_ks_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    );
    upstream
        .server()
        .exec(&format!("CREATE DATABASE `{db}`"))
        .await;
    upstream
        .server()
        .exec(&format!(
            "CREATE TABLE `{db}`.`feed` (id BIGINT PRIMARY KEY, payload VARCHAR(100), n INT, at DATETIME(3))"
        ))
        .await;

    let app = crate::ferry::scratch_app("ks", launch, false).await?;
    let _worker = crate::ferry::start_worker(&app)?;
    let http = reqwest::Client::builder().no_proxy().build()?;
    let (base, token) = (app.address.clone(), app.admin_token.clone());

    println!("ferry-bench kafka-sink");
    println!(
        "  upstream:   scratch MariaDB (binlog ROW) on port {}; {} rows in INSERTs of {}",
        upstream.port(),
        args.rows,
        args.batch
    );
    println!(
        "  downstream: tansu at {} (memory storage), topics of {} partitions; ferry on SQLite with one ferry-worker",
        tansu.bootstrap(),
        args.partitions
    );

    let port = tansu.port;
    let id = create_changefeed(
        &http,
        &base,
        &token,
        upstream.port(),
        json!({
            "downstreamType": "kafka",
            "downstream": {
                "ip": "127.0.0.1", "port": port, "topicName": "bench-cdc",
                "partitions": args.partitions, "replicationFactor": 1, "protocol": "canal-json",
                "dispatchers": [{ "matcher": "*.*", "dispatcher": "index-value" }],
            },
            "rules": [format!("{db}.feed")],
        }),
    )
    .await?;

    // Through ferry: the rows wait in the upstream's binlog while the
    // changefeed is paused. The clock runs from the first message's producer
    // timestamp until the changefeed's checkpoint reaches the last
    // transaction, which it does only once the broker has acknowledged
    // every message: the same span as the raw producer's first send to last
    // acknowledgement. No reader runs meanwhile (one waits for the first
    // message only), so neither side shares the CPU with a consumer.
    let mut up = MySqlConnection::connect(&upstream.server().url()).await?;
    operate(&http, &base, &token, &id, "pause").await?;
    insert_rows(&mut up, &db, "feed", 0, args.rows, args.batch).await?;
    let before = checkpoint(&http, &base, &token, &id).await?;
    let first = {
        let (config, partitions) = (tansu.client_config(), args.partitions);
        tokio::task::spawn_blocking(move || read_messages(config, "bench-cdc", partitions, 1))
    };
    let resumed = Instant::now();
    operate(&http, &base, &token, &id, "resume").await?;
    let first = first.await??;
    let done_ms = checkpoint_settled(&http, &base, &token, &id, before).await?;
    let ferry_rate = stats::per_second(
        args.rows,
        Duration::from_millis((done_ms - first.first_ms).max(1) as u64),
    );
    let size = first.size;
    // Off the clock: every row is on the topic.
    let all = {
        let (config, partitions, rows) = (tansu.client_config(), args.partitions, args.rows);
        tokio::task::spawn_blocking(move || read_messages(config, "bench-cdc", partitions, rows))
    };
    all.await??;
    println!(
        "  ferry:      {} messages/s (canal-json, ~{size} bytes each; first message's timestamp to the checkpoint passing the last; first message {} after resume; all {} messages read back)",
        stats::rate(ferry_rate),
        stats::ms(Duration::from_millis(
            (first.first_ms
                - (chrono::Utc::now().timestamp_millis() - resumed.elapsed().as_millis() as i64))
                .max(0) as u64
        )),
        args.rows
    );

    // The limit: a raw idempotent producer, same count, size and partitions.
    let admin: AdminClient<DefaultClientContext> = tansu.client()?;
    admin
        .create_topics(
            &[NewTopic::new(
                "bench-raw",
                args.partitions,
                TopicReplication::Fixed(1),
            )],
            &AdminOptions::new(),
        )
        .await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let raw_rate = raw_produce(&tansu, "bench-raw", args.rows, size, args.partitions).await?;
    let ratio = ferry_rate / raw_rate.max(1e-9);
    println!(
        "  raw:        {} messages/s (rdkafka FutureProducer, idempotent, acks=all, linger 5 ms; first send to last acknowledgement)",
        stats::rate(raw_rate)
    );
    println!(
        "  ratio:      {ratio:.2} (goal >= {GOAL}) {}",
        if ratio >= GOAL { "MET" } else { "MISSED" }
    );
    Ok(())
}

/// What reading a topic back shows.
struct ReadBack {
    /// The earliest producer timestamp (CreateTime) seen, in ms since the epoch.
    first_ms: i64,
    /// The first message's size (key and value).
    size: usize,
}

/// Reads the topic from the beginning until `n` messages have arrived.
/// Messages are counted by reading them: tansu's end offsets count record
/// batches, not records.
fn read_messages(
    tansu_config: rdkafka::ClientConfig,
    topic: &str,
    partitions: i32,
    n: usize,
) -> anyhow::Result<ReadBack> {
    let mut config = tansu_config;
    config
        .set("group.id", "ferry-bench-reader")
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "10");
    let consumer: BaseConsumer = config.create()?;
    let mut assignment = rdkafka::TopicPartitionList::new();
    for p in 0..partitions {
        assignment.add_partition_offset(topic, p, rdkafka::Offset::Beginning)?;
    }
    consumer.assign(&assignment)?;
    let deadline = Instant::now() + Duration::from_secs(600);
    let (mut size, mut seen) = (0, 0);
    let mut earliest = i64::MAX;
    while Instant::now() < deadline {
        let Some(message) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let message = message?;
        if seen == 0 {
            size = message.payload().map_or(0, <[u8]>::len) + message.key().map_or(0, <[u8]>::len);
        }
        let at = message
            .timestamp()
            .to_millis()
            .context("a message without a timestamp")?;
        earliest = earliest.min(at);
        seen += 1;
        if seen >= n {
            return Ok(ReadBack {
                first_ms: earliest,
                size,
            });
        }
    }
    bail!("only {seen} of {n} messages in {topic} after 600 s")
}

/// The changefeed's checkpoint (`downstreamSyncTs`).
async fn checkpoint(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    id: &str,
) -> anyhow::Result<u64> {
    let detail: Value = http
        .get(format!("{base}/api/v1/changefeeds/{id}/"))
        .bearer_auth(token)
        .send()
        .await?
        .json()
        .await?;
    detail["data"]["downstreamSyncTs"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .with_context(|| format!("no checkpoint in {detail}"))
}

/// Polls the checkpoint until it has moved past `before` and then stayed
/// put for two seconds; returns when (ms since the epoch) it first showed
/// its final value. The engine reports progress every 100 ms, so this is
/// late by up to that much, never early.
async fn checkpoint_settled(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    id: &str,
    before: u64,
) -> anyhow::Result<i64> {
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut last = (before, chrono::Utc::now().timestamp_millis());
    loop {
        let now = chrono::Utc::now().timestamp_millis();
        let value = checkpoint(http, base, token, id).await?;
        if value != last.0 {
            last = (value, now);
        } else if value > before && now - last.1 > 2000 {
            return Ok(last.1);
        }
        if Instant::now() > deadline {
            bail!("the checkpoint did not settle within 600 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Sends `n` messages of `size` bytes spread over the partitions and waits
/// for every acknowledgement; returns messages per second from the first
/// send to the last acknowledgement. One message sent and acknowledged
/// first lets the producer connect and get its idempotent producer id off
/// the clock, as ferry's producer does before the changefeed's first row.
async fn raw_produce(
    tansu: &TestKafka,
    topic: &str,
    n: usize,
    size: usize,
    partitions: i32,
) -> anyhow::Result<f64> {
    let mut config = tansu.client_config();
    config
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5");
    let producer: FutureProducer = config.create()?;
    let payload = vec![b'x'; size];
    producer
        .send(
            FutureRecord::<[u8], [u8]>::to(topic)
                .payload(b"warm-up")
                .partition(0),
            Duration::from_secs(30),
        )
        .await
        .map_err(|(e, _)| anyhow::anyhow!("warm-up delivery failed: {e}"))?;
    let started = Instant::now();
    let mut deliveries = Vec::with_capacity(n);
    for i in 0..n {
        let partition = (i % partitions as usize) as i32;
        loop {
            let record = FutureRecord::<[u8], [u8]>::to(topic)
                .payload(&payload)
                .partition(partition);
            match producer.send_result(record) {
                Ok(delivery) => {
                    deliveries.push(delivery);
                    break;
                }
                Err((
                    rdkafka::error::KafkaError::MessageProduction(
                        rdkafka::types::RDKafkaErrorCode::QueueFull,
                    ),
                    _,
                )) => tokio::time::sleep(Duration::from_millis(2)).await,
                Err((e, _)) => bail!("raw produce failed: {e}"),
            }
        }
    }
    for delivery in deliveries {
        delivery
            .await
            .context("producer gone")?
            .map_err(|(e, _)| anyhow::anyhow!("delivery failed: {e}"))?;
    }
    Ok(stats::per_second(n, started.elapsed()))
}
