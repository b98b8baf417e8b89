//! `ferry-bench consume`: records/s read through a REST Proxy v2 consumer
//! instance beside a raw rdkafka consumer reading the same records from the
//! same tansu broker in the same run.
//!
//! The topic is loaded once with `--records` records of `--size` bytes
//! (one record per batch, so that tansu's offsets are exact). Each round,
//! each side reads all of them from the beginning in a new group:
//!
//! - ferry: a `binary` instance assigned every partition, read with
//!   `GET .../records?max_bytes=--max-bytes` until every record came;
//! - raw: one `BaseConsumer` assigned every partition from the beginning,
//!   polled until every record came.
//!
//! Rounds rotate the order; the ratio is the median of per-round ratios.

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use ferry_tests::kafka::TestKafka;
use rdkafka::{
    Offset, TopicPartitionList,
    admin::{AdminClient, AdminOptions, NewTopic, TopicReplication},
    client::DefaultClientContext,
    consumer::{BaseConsumer, Consumer},
    producer::{FutureProducer, FutureRecord},
};
use serde_json::{Value, json};

use crate::stats::{self, Ratio};

const TOPIC: &str = "bench-consume";

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Records each side reads per round.
    #[arg(long, default_value_t = 100_000)]
    pub records: usize,
    /// Bytes of each record's value.
    #[arg(long, default_value_t = 100)]
    pub size: usize,
    /// `max_bytes` of each records call.
    #[arg(long, default_value_t = 1_000_000)]
    pub max_bytes: usize,
    /// Rounds; the order of the sides rotates between rounds.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Partitions of the topic.
    #[arg(long, default_value_t = 4)]
    pub partitions: i32,
    /// Where ferry-api is (default: beside this binary).
    #[arg(long)]
    pub bin_dir: Option<PathBuf>,
    /// RUST_LOG for ferry's process.
    #[arg(long, default_value = "warn")]
    pub ferry_log: String,
}

struct Setup {
    http: reqwest::Client,
    base: String,
    token: String,
    broker: TestKafka,
    args: Args,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.records > 0 && args.rounds > 0 && args.partitions > 0,
        "--records, --rounds and --partitions must be positive"
    );
    let launch = crate::ferry::default_launch(args.bin_dir.as_deref(), &args.ferry_log, None)?;
    let broker = TestKafka::start().await;
    // Consuming is not a task: no worker is needed.
    let app = crate::ferry::scratch_app("consume", launch, false).await?;
    let admin = broker.client::<AdminClient<DefaultClientContext>>()?;
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let topic = NewTopic::new(TOPIC, args.partitions, TopicReplication::Fixed(1));
    if let Err((name, code)) = admin.create_topics([&topic], &opts).await?.remove(0) {
        bail!("creating {name} failed: {code}");
    }
    load(&broker, &args).await?;
    let http = reqwest::Client::builder().no_proxy().build()?;
    http.post(format!("{}/api/v1/clusters", app.address))
        .bearer_auth(&app.admin_token)
        .json(&broker.registration("bench"))
        .send()
        .await?
        .error_for_status()?;
    let setup = Setup {
        http,
        base: app.address.clone(),
        token: app.admin_token.clone(),
        broker,
        args,
    };
    let args = &setup.args;
    println!("ferry-bench consume");
    println!(
        "  broker:   tansu 0.6.0 (memory storage) at {}, topic of {} partitions",
        setup.broker.bootstrap(),
        args.partitions
    );
    println!(
        "  load:     {} records of {} bytes read per side per round; records calls of max_bytes {}",
        args.records, args.size, args.max_bytes
    );
    // Warm both sides once (connections, metadata).
    ferry_side(&setup, "warm").await?;
    raw_side(&setup, "warm").await?;
    let mut rates: Vec<(f64, f64)> = Vec::new();
    for round in 0..args.rounds {
        let group = format!("round-{round}");
        let (ferry, raw) = if round % 2 == 0 {
            let f = ferry_side(&setup, &group).await?;
            (f, raw_side(&setup, &group).await?)
        } else {
            let r = raw_side(&setup, &group).await?;
            (ferry_side(&setup, &group).await?, r)
        };
        println!(
            "  round {}: ferry v2 {} / raw {} records/s",
            round + 1,
            stats::rate(ferry),
            stats::rate(raw)
        );
        rates.push((ferry, raw));
    }
    let ferry: Vec<f64> = rates.iter().map(|r| r.0).collect();
    let raw: Vec<f64> = rates.iter().map(|r| r.1).collect();
    println!(
        "  v2 consumer:  {} records/s",
        stats::rate_with_range(&ferry)
    );
    println!("  raw rdkafka:  {} records/s", stats::rate_with_range(&raw));
    let ratio = Ratio::from_rounds("v2 consumer / raw", &rates);
    println!("  {}: {}", ratio.label, ratio.describe());
    println!("  {}", stats::verdict(&[ratio]));
    Ok(())
}

/// Writes the records, one per batch, spread over the partitions.
async fn load(broker: &TestKafka, args: &Args) -> anyhow::Result<()> {
    let producer: FutureProducer = broker
        .client_config()
        .set("batch.num.messages", "1")
        .set("linger.ms", "0")
        .set("message.timeout.ms", "60000")
        .create()?;
    let value = vec![b'x'; args.size];
    for chunk in (0..args.records).collect::<Vec<_>>().chunks(1000) {
        let sends = chunk.iter().map(|i| {
            let partition = (*i as i32) % args.partitions;
            producer.send(
                FutureRecord::<[u8], [u8]>::to(TOPIC)
                    .partition(partition)
                    .payload(&value),
                Duration::from_secs(60),
            )
        });
        for result in futures::future::join_all(sends).await {
            result.map_err(|(e, _)| anyhow::anyhow!("loading the topic: {e}"))?;
        }
    }
    Ok(())
}

/// Records/s of a v2 instance reading every record.
async fn ferry_side(setup: &Setup, group: &str) -> anyhow::Result<f64> {
    let args = &setup.args;
    let v2 = "application/vnd.kafka.v2+json";
    let group = format!("ferry-{group}");
    let call = |method: reqwest::Method, path: String| {
        setup
            .http
            .request(method, format!("{}{path}", setup.base))
            .bearer_auth(&setup.token)
    };
    let created: Value = call(reqwest::Method::POST, format!("/consumers/{group}"))
        .header("content-type", v2)
        .body(json!({"name": "bench", "auto.offset.reset": "earliest", "auto.commit.enable": "false"}).to_string())
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let instance = format!(
        "/consumers/{group}/instances/{}",
        created["instance_id"].as_str().context("instance id")?
    );
    let partitions: Vec<Value> = (0..args.partitions)
        .map(|p| json!({"topic": TOPIC, "partition": p}))
        .collect();
    let started = Instant::now();
    call(reqwest::Method::POST, format!("{instance}/assignments"))
        .header("content-type", v2)
        .body(json!({ "partitions": partitions }).to_string())
        .send()
        .await?
        .error_for_status()?;
    let mut read = 0;
    while read < args.records {
        let resp = call(
            reqwest::Method::GET,
            format!(
                "{instance}/records?timeout=5000&max_bytes={}",
                args.max_bytes
            ),
        )
        .header("accept", "application/vnd.kafka.binary.v2+json")
        .send()
        .await?;
        let status = resp.status();
        let body: Value = resp.json().await?;
        let Some(records) = body.as_array() else {
            bail!("records -> {status}: {body}");
        };
        if records.is_empty() && started.elapsed() > Duration::from_secs(120) {
            bail!("ferry read {read} of {} records", args.records);
        }
        read += records.len();
    }
    let rate = stats::per_second(read, started.elapsed());
    call(reqwest::Method::DELETE, instance).send().await?;
    Ok(rate)
}

/// Records/s of a raw consumer reading every record.
async fn raw_side(setup: &Setup, group: &str) -> anyhow::Result<f64> {
    let args = &setup.args;
    let consumer: BaseConsumer = setup
        .broker
        .client_config()
        .set("group.id", format!("raw-{group}"))
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()?;
    let mut list = TopicPartitionList::new();
    for p in 0..args.partitions {
        list.add_partition_offset(TOPIC, p, Offset::Beginning)?;
    }
    let records = args.records;
    tokio::task::spawn_blocking(move || {
        // Connected before the clock starts, as ferry's instance is by the
        // time its create call has answered.
        consumer.fetch_metadata(Some(TOPIC), Duration::from_secs(10))?;
        let started = Instant::now();
        consumer.assign(&list)?;
        let mut read = 0;
        while read < records {
            match consumer.poll(Duration::from_millis(500)) {
                Some(Ok(_)) => read += 1,
                Some(Err(e)) => bail!("raw consume: {e}"),
                None if started.elapsed() > Duration::from_secs(120) => {
                    bail!("raw read {read} of {records} records")
                }
                None => {}
            }
        }
        Ok(stats::per_second(read, started.elapsed()))
    })
    .await?
}
