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
//! - ferry avro: the same with an `avro` instance, on a second topic loaded
//!   with as many Avro records `{n, pad}` of about `--size` bytes in
//!   Confluent's wire format, each decoded through the cluster's schema
//!   registry (the tests' stand-in; ferry asks it once for the schema);
//! - raw: one `BaseConsumer` assigned every partition from the beginning,
//!   polled until every record came.
//!
//! Rounds rotate the order; the ratio is the median of per-round ratios.

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use ferry_service::schema_registry::{ParsedSchema, SchemaKind};
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
const AVRO_TOPIC: &str = "bench-consume-avro";
const AVRO_SCHEMA: &str = r#"{"type":"record","name":"BenchValue","fields":[
    {"name":"n","type":"long"},{"name":"pad","type":"string"}]}"#;

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
    for name in [TOPIC, AVRO_TOPIC] {
        let topic = NewTopic::new(name, args.partitions, TopicReplication::Fixed(1));
        if let Err((name, code)) = admin.create_topics([&topic], &opts).await?.remove(0) {
            bail!("creating {name} failed: {code}");
        }
    }
    let http = reqwest::Client::builder().no_proxy().build()?;
    let registry = ferry_tests::schema_registry::SchemaRegistry::start().await;
    let registered: Value = http
        .post(format!(
            "{}/subjects/{AVRO_TOPIC}-value/versions",
            registry.url
        ))
        .json(&json!({ "schema": AVRO_SCHEMA }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let schema_id = registered["id"].as_i64().context("schema id")? as i32;
    let schema = ParsedSchema::parse(SchemaKind::Avro, AVRO_SCHEMA)?;
    let pad = "x".repeat(args.size.saturating_sub(10));
    let plain = vec![b'x'; args.size];
    load(&broker, &args, TOPIC, |_| plain.clone()).await?;
    load(&broker, &args, AVRO_TOPIC, |n| {
        schema
            .encode(schema_id, &json!({ "n": n, "pad": pad }))
            .expect("the bench's value fits its schema")
    })
    .await?;
    let mut registration = broker.registration("bench");
    registration["schemaRegistry"] = json!({ "url": registry.url });
    http.post(format!("{}/api/v1/clusters", app.address))
        .bearer_auth(&app.admin_token)
        .json(&registration)
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
    // Warm every side once (connections, metadata, the registry's schema).
    for side in SIDES {
        measure(&setup, side, "warm").await?;
    }
    let mut rates: Vec<[f64; 3]> = Vec::new();
    for round in 0..args.rounds {
        let group = format!("round-{round}");
        let mut order = SIDES;
        order.rotate_left(round % SIDES.len());
        let mut rate = [0.0; 3];
        for side in order {
            rate[side as usize] = measure(&setup, side, &group).await?;
        }
        println!(
            "  round {}: ferry v2 {} / ferry v2 avro {} / raw {} records/s",
            round + 1,
            stats::rate(rate[0]),
            stats::rate(rate[1]),
            stats::rate(rate[2])
        );
        rates.push(rate);
    }
    let column = |i: usize| rates.iter().map(|r| r[i]).collect::<Vec<_>>();
    println!(
        "  v2 consumer:  {} records/s",
        stats::rate_with_range(&column(0))
    );
    println!(
        "  v2 avro:      {} records/s",
        stats::rate_with_range(&column(1))
    );
    println!(
        "  raw rdkafka:  {} records/s",
        stats::rate_with_range(&column(2))
    );
    let pairs = |i: usize| rates.iter().map(|r| (r[i], r[2])).collect::<Vec<_>>();
    let ratios = [
        Ratio::from_rounds("v2 consumer / raw", &pairs(0)),
        Ratio::from_rounds("v2 avro consumer / raw", &pairs(1)),
    ];
    for r in &ratios {
        println!("  {}: {}", r.label, r.describe());
    }
    println!("  {}", stats::verdict(&ratios));
    Ok(())
}

#[derive(Clone, Copy)]
enum Side {
    Binary,
    Avro,
    Raw,
}

const SIDES: [Side; 3] = [Side::Binary, Side::Avro, Side::Raw];

async fn measure(setup: &Setup, side: Side, group: &str) -> anyhow::Result<f64> {
    match side {
        Side::Binary => ferry_side(setup, group, "binary", TOPIC).await,
        Side::Avro => ferry_side(setup, group, "avro", AVRO_TOPIC).await,
        Side::Raw => raw_side(setup, group).await,
    }
}

/// Writes the records, one per batch, spread over the partitions; the
/// value of record `n` is `value(n)`.
async fn load(
    broker: &TestKafka,
    args: &Args,
    topic: &str,
    value: impl Fn(usize) -> Vec<u8>,
) -> anyhow::Result<()> {
    let producer: FutureProducer = broker
        .client_config()
        .set("batch.num.messages", "1")
        .set("linger.ms", "0")
        .set("message.timeout.ms", "60000")
        .create()?;
    for chunk in (0..args.records).collect::<Vec<_>>().chunks(1000) {
        let values: Vec<Vec<u8>> = chunk.iter().map(|i| value(*i)).collect();
        let sends = chunk.iter().zip(&values).map(|(i, value)| {
            let partition = (*i as i32) % args.partitions;
            producer.send(
                FutureRecord::<[u8], [u8]>::to(topic)
                    .partition(partition)
                    .payload(value),
                Duration::from_secs(60),
            )
        });
        for result in futures::future::join_all(sends).await {
            result.map_err(|(e, _)| anyhow::anyhow!("loading the topic: {e}"))?;
        }
    }
    Ok(())
}

/// Records/s of a v2 instance of `format` reading every record of `topic`.
async fn ferry_side(setup: &Setup, group: &str, format: &str, topic: &str) -> anyhow::Result<f64> {
    let args = &setup.args;
    let v2 = "application/vnd.kafka.v2+json";
    let group = format!("ferry-{format}-{group}");
    let call = |method: reqwest::Method, path: String| {
        setup
            .http
            .request(method, format!("{}{path}", setup.base))
            .bearer_auth(&setup.token)
    };
    let created: Value = call(reqwest::Method::POST, format!("/consumers/{group}"))
        .header("content-type", v2)
        .body(json!({"name": "bench", "format": format, "auto.offset.reset": "earliest", "auto.commit.enable": "false"}).to_string())
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
        .map(|p| json!({"topic": topic, "partition": p}))
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
        .header("accept", format!("application/vnd.kafka.{format}.v2+json"))
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
