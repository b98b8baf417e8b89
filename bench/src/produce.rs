//! `ferry-bench produce`: records/s produced through the REST Proxy dialects
//! beside a raw rdkafka producer sending the same records to the same tansu
//! broker in the same run:
//!
//! - v2: `POST /topics/{t}` with `--batch` binary records per call, from
//!   `--clients` concurrent clients;
//! - v2 avro: the same calls in the `avro` format, by schema ids, each value
//!   a record `{n, pad}` of `--size` bytes encoded by ferry through the
//!   cluster's schema registry (the tests' stand-in, `ferry_tests::
//!   schema_registry`; ids are cached, so it is called once per schema);
//! - v3: `POST /v3/clusters/{id}/topics/{t}/records` as one chunked stream
//!   per client, every record's report read back;
//! - raw: one `FutureProducer` with the same number of records in flight
//!   (`--clients` x `--batch`), each delivery awaited.
//!
//! Every side writes `--records` records of `--size` bytes with a key, with
//! the producer settings ferry uses (`acks=all`, murmur2). Rounds rotate the
//! order; each ratio is the median of per-round ratios. The v2 calls' own
//! latency (p50/p99 per call) is printed beside the rates.
//!
//! Then single records: `--single` v2 calls of one record each, one after
//! the other, beside the raw producer sending as many one at a time, each
//! awaited: the p50/p99 of one record's produce, over HTTP and direct.

use std::{
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use base64::Engine;
use ferry_tests::kafka::TestKafka;
use futures::StreamExt;
use rdkafka::{
    admin::{AdminClient, AdminOptions, NewTopic, TopicReplication},
    client::DefaultClientContext,
    producer::{FutureProducer, FutureRecord},
};
use serde_json::{Value, json};

use crate::stats::{self, Latencies, Ratio};

const TOPIC: &str = "bench-produce";

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Records each side produces per round.
    #[arg(long, default_value_t = 50_000)]
    pub records: usize,
    /// Records per v2 call (and per client in flight on the raw side).
    #[arg(long, default_value_t = 100)]
    pub batch: usize,
    /// Concurrent HTTP clients (v2 calls, v3 streams).
    #[arg(long, default_value_t = 16)]
    pub clients: usize,
    /// Single-record produces, one after the other, per side.
    #[arg(long, default_value_t = 500)]
    pub single: usize,
    /// Bytes of each record's value.
    #[arg(long, default_value_t = 100)]
    pub size: usize,
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

#[derive(Clone, Copy, Debug)]
enum Side {
    V2,
    V2Avro,
    V3,
    Raw,
}

/// The Avro schema of the v2 avro side's values.
const VALUE_SCHEMA: &str = r#"{"type":"record","name":"BenchValue","fields":[
    {"name":"n","type":"long"},{"name":"pad","type":"string"}]}"#;

struct Setup {
    http: reqwest::Client,
    base: String,
    token: String,
    cluster_id: String,
    producer: FutureProducer,
    /// The key and value schema ids of the v2 avro side.
    avro_ids: (i64, i64),
    args: Arc<Args>,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.records > 0 && args.batch > 0 && args.clients > 0 && args.rounds > 0,
        "--records, --batch, --clients and --rounds must be positive"
    );
    let launch = crate::ferry::default_launch(args.bin_dir.as_deref(), &args.ferry_log, None)?;
    let broker = TestKafka::start().await;
    // Produce is not a task: no worker is needed.
    let app = crate::ferry::scratch_app("produce", launch, false).await?;
    let admin = broker.client::<AdminClient<DefaultClientContext>>()?;
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let topic = NewTopic::new(TOPIC, args.partitions, TopicReplication::Fixed(1));
    if let Err((name, code)) = admin.create_topics([&topic], &opts).await?.remove(0) {
        bail!("creating {name} failed: {code}");
    }
    let http = reqwest::Client::builder().no_proxy().build()?;
    let registry = ferry_tests::schema_registry::SchemaRegistry::start().await;
    let mut registration = broker.registration("bench");
    registration["schemaRegistry"] = json!({ "url": registry.url });
    let cluster: Value = http
        .post(format!("{}/api/v1/clusters", app.address))
        .bearer_auth(&app.admin_token)
        .json(&registration)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let producer: FutureProducer = broker
        .client_config()
        .set("acks", "all")
        .set("partitioner", "murmur2_random")
        .set("linger.ms", "2")
        .set("message.timeout.ms", "30000")
        .create()?;
    let setup = Setup {
        http,
        base: app.address.clone(),
        token: app.admin_token.clone(),
        cluster_id: cluster["id"].as_str().context("cluster id")?.to_owned(),
        producer,
        avro_ids: (0, 0),
        args: Arc::new(args),
    };
    let setup = Setup {
        avro_ids: register_schemas(&setup).await?,
        ..setup
    };
    let args = &setup.args;
    println!("ferry-bench produce");
    println!(
        "  broker:   tansu 0.6.0 (memory storage) at {}, topic of {} partitions",
        broker.bootstrap(),
        args.partitions
    );
    println!(
        "  load:     {} records of {} bytes per side per round; v2 {} records per call; {} clients",
        args.records, args.size, args.batch, args.clients
    );

    // Warm every side once (connections, producers, metadata).
    const SIDES: [Side; 4] = [Side::V2, Side::V2Avro, Side::V3, Side::Raw];
    for side in SIDES {
        measure(&setup, side, args.batch * args.clients).await?;
    }
    let mut rates: Vec<[f64; 4]> = Vec::new();
    let mut calls: Vec<Latencies> = Vec::new();
    for round in 0..args.rounds {
        let mut order = SIDES;
        order.rotate_left(round % SIDES.len());
        let mut rate = [0.0; 4];
        for side in order {
            let (r, latencies) = measure(&setup, side, args.records).await?;
            rate[side as usize] = r;
            if let (Side::V2, Some(latencies)) = (side, latencies) {
                calls.push(latencies);
            }
        }
        println!(
            "  round {}: v2 {} / v2 avro {} / v3 {} / raw {} records/s",
            round + 1,
            stats::rate(rate[0]),
            stats::rate(rate[1]),
            stats::rate(rate[2]),
            stats::rate(rate[3])
        );
        rates.push(rate);
    }
    let column = |i: usize| rates.iter().map(|r| r[i]).collect::<Vec<_>>();
    println!(
        "  v2 produce:   {} records/s; per call of {} records: {}",
        stats::rate_with_range(&column(0)),
        args.batch,
        Latencies::merge(&calls).summary()
    );
    println!(
        "  v2 avro:      {} records/s",
        stats::rate_with_range(&column(1))
    );
    println!(
        "  v3 stream:    {} records/s",
        stats::rate_with_range(&column(2))
    );
    println!(
        "  raw rdkafka:  {} records/s",
        stats::rate_with_range(&column(3))
    );
    let pairs = |i: usize| rates.iter().map(|r| (r[i], r[3])).collect::<Vec<_>>();
    let ratios = [
        Ratio::from_rounds("v2 / raw", &pairs(0)),
        Ratio::from_rounds("v2 avro / raw", &pairs(1)),
        Ratio::from_rounds("v3 stream / raw", &pairs(2)),
    ];
    for r in &ratios {
        println!("  {}: {}", r.label, r.describe());
    }
    println!("  {}", stats::verdict(&ratios));
    let (http, raw) = single_records(&setup).await?;
    println!(
        "  one record, {} one after the other: v2 call {}; raw send {}",
        args.single,
        http.summary(),
        raw.summary()
    );
    Ok(())
}

/// Latencies of `--single` one-record produces, over v2 and direct.
async fn single_records(setup: &Setup) -> anyhow::Result<(Latencies, Latencies)> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let url = format!("{}/topics/{TOPIC}", setup.base);
    let mut http = Vec::with_capacity(setup.args.single);
    let mut raw = Vec::with_capacity(setup.args.single);
    for i in 0..setup.args.single {
        let value = value(setup.args.size, i);
        let body = json!({ "records": [{ "key": b64.encode(format!("s-{i}")), "value": b64.encode(&value) }] });
        let started = Instant::now();
        let resp = setup
            .http
            .post(&url)
            .bearer_auth(&setup.token)
            .header("content-type", "application/vnd.kafka.binary.v2+json")
            .body(body.to_string())
            .send()
            .await?;
        let status = resp.status();
        let answer: Value = resp.json().await?;
        if !status.is_success() || !answer["offsets"][0]["error_code"].is_null() {
            bail!("single v2 produce -> {status}: {answer}");
        }
        http.push(started.elapsed());
        let key = format!("s-{i}");
        let started = Instant::now();
        setup
            .producer
            .send(
                FutureRecord::to(TOPIC).key(&key).payload(&value),
                Duration::from_secs(30),
            )
            .await
            .map_err(|(e, _)| anyhow::anyhow!("raw produce: {e}"))?;
        raw.push(started.elapsed());
    }
    Ok((Latencies::new(http), Latencies::new(raw)))
}

/// Records/s of one side producing `count` records, and the v2 side's
/// per-call latencies.
async fn measure(
    setup: &Setup,
    side: Side,
    count: usize,
) -> anyhow::Result<(f64, Option<Latencies>)> {
    let clients = setup.args.clients;
    let per_client = count.div_ceil(clients);
    let started = Instant::now();
    let runs = (0..clients).map(|client| async move {
        match side {
            Side::V2 => v2_client(setup, client, per_client, false).await,
            Side::V2Avro => v2_client(setup, client, per_client, true).await,
            Side::V3 => Ok((v3_stream(setup, client, per_client).await?, Vec::new())),
            Side::Raw => Ok((raw_client(setup, client, per_client).await?, Vec::new())),
        }
    });
    let done = futures::future::try_join_all(runs).await?;
    let elapsed = started.elapsed();
    let written: usize = done.iter().map(|(n, _)| n).sum();
    let latencies = matches!(side, Side::V2 | Side::V2Avro)
        .then(|| Latencies::new(done.into_iter().flat_map(|(_, l)| l).collect()));
    Ok((stats::per_second(written, elapsed), latencies))
}

fn value(size: usize, n: usize) -> Vec<u8> {
    let mut v = format!("{n:016}").into_bytes();
    v.resize(size.max(16), b'x');
    v
}

/// Registers the v2 avro side's schemas through one ferry call; answers
/// their ids.
async fn register_schemas(setup: &Setup) -> anyhow::Result<(i64, i64)> {
    let body = json!({
        "key_schema": "\"string\"",
        "value_schema": VALUE_SCHEMA,
        "records": [{ "key": "warm", "value": { "n": 0, "pad": "" } }],
    });
    let answer: Value = setup
        .http
        .post(format!("{}/topics/{TOPIC}", setup.base))
        .bearer_auth(&setup.token)
        .header("content-type", "application/vnd.kafka.avro.v2+json")
        .body(body.to_string())
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok((
        answer["key_schema_id"].as_i64().context("key schema id")?,
        answer["value_schema_id"]
            .as_i64()
            .context("value schema id")?,
    ))
}

async fn v2_client(
    setup: &Setup,
    client: usize,
    count: usize,
    avro: bool,
) -> anyhow::Result<(usize, Vec<Duration>)> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let url = format!("{}/topics/{TOPIC}", setup.base);
    let mut sent = 0;
    let mut latencies = Vec::new();
    while sent < count {
        let n = setup.args.batch.min(count - sent);
        let records: Vec<Value> = (sent..sent + n)
            .map(|i| {
                if avro {
                    // A long and a string of --size bytes in all (about).
                    let pad = "x".repeat(setup.args.size.saturating_sub(10));
                    json!({ "key": format!("k{client}-{i}"), "value": { "n": i, "pad": pad } })
                } else {
                    json!({
                        "key": b64.encode(format!("k{client}-{i}")),
                        "value": b64.encode(value(setup.args.size, i)),
                    })
                }
            })
            .collect();
        let (content_type, body) = if avro {
            let (key_id, value_id) = setup.avro_ids;
            (
                "application/vnd.kafka.avro.v2+json",
                json!({ "key_schema_id": key_id, "value_schema_id": value_id, "records": records }),
            )
        } else {
            (
                "application/vnd.kafka.binary.v2+json",
                json!({ "records": records }),
            )
        };
        let call = Instant::now();
        let resp = setup
            .http
            .post(&url)
            .bearer_auth(&setup.token)
            .header("content-type", content_type)
            .header("accept", "application/vnd.kafka.v2+json")
            .body(body.to_string())
            .send()
            .await?;
        let status = resp.status();
        let body: Value = resp.json().await?;
        let ok = body["offsets"]
            .as_array()
            .is_some_and(|o| o.len() == n && o.iter().all(|r| r["error_code"].is_null()));
        if !status.is_success() || !ok {
            bail!("v2 produce -> {status}: {body}");
        }
        latencies.push(call.elapsed());
        sent += n;
    }
    Ok((sent, latencies))
}

async fn v3_stream(setup: &Setup, client: usize, count: usize) -> anyhow::Result<usize> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let size = setup.args.size;
    let url = format!(
        "{}/v3/clusters/{}/topics/{TOPIC}/records",
        setup.base, setup.cluster_id
    );
    // Chunks of 100 records, so that the body is a real stream.
    let chunks = futures::stream::iter((0..count).step_by(100)).map(move |start| {
        let mut chunk = String::new();
        for i in start..(start + 100).min(count) {
            chunk.push_str(
                &json!({
                    "key": { "type": "STRING", "data": format!("k{client}-{i}") },
                    "value": { "type": "BINARY", "data": b64.encode(value(size, i)) },
                })
                .to_string(),
            );
            chunk.push('\n');
        }
        Ok::<_, std::io::Error>(chunk)
    });
    let resp = setup
        .http
        .post(&url)
        .bearer_auth(&setup.token)
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await?;
    let status = resp.status();
    let text = resp.text().await?;
    let written = |line: &str| {
        serde_json::from_str::<Value>(line).is_ok_and(|report| report["error_code"] == 200)
    };
    let ok = text.lines().filter(|l| written(l)).count();
    if !status.is_success() || ok != count {
        let first = text.lines().find(|l| !written(l));
        bail!("v3 stream -> {status}: {ok} of {count} written; first other: {first:?}");
    }
    Ok(count)
}

async fn raw_client(setup: &Setup, client: usize, count: usize) -> anyhow::Result<usize> {
    let mut sent = 0;
    while sent < count {
        let n = setup.args.batch.min(count - sent);
        let keys: Vec<String> = (sent..sent + n).map(|i| format!("k{client}-{i}")).collect();
        let values: Vec<Vec<u8>> = (sent..sent + n)
            .map(|i| value(setup.args.size, i))
            .collect();
        let sends = keys.iter().zip(&values).map(|(k, v)| {
            setup.producer.send(
                FutureRecord::to(TOPIC).key(k).payload(v),
                Duration::from_secs(30),
            )
        });
        for result in futures::future::join_all(sends).await {
            result.map_err(|(e, _)| anyhow::anyhow!("raw produce: {e}"))?;
        }
        sent += n;
    }
    Ok(sent)
}
