//! `ferry-bench admin`: the Confluent v3 admin reads on a cluster with 1,000
//! topics, beside the same reads made directly with the rdkafka client, on
//! the same tansu broker in the same run:
//!
//! - list topics: `GET /v3/clusters/{id}/topics` beside one Metadata request
//!   of every topic (`fetch_metadata`);
//! - consumer lag: `GET .../consumer-groups/{group}/lags` beside the calls a
//!   direct client makes for the same figures: the group's description
//!   (`fetch_group_list`), its committed offsets (`committed_offsets` of every
//!   partition, from a consumer of that group that does not join it) and the
//!   partitions' end offsets (`offsets_for_times` at the latest offset, one
//!   ListOffsets per leader). The direct side gets the partition list for free
//!   (read once before timing); ferry reads everything on every call.
//!
//! - lists of clusters: `GET /v3/clusters` and TubeMQ's `GET /v1/cluster`
//!   with a second cluster registered whose broker is down, beside the same
//!   lists before it was registered.
//!
//! The group is a real one: a consumer subscribed to every topic, which has
//! committed offset 0 on each, so that every one of the 1,000 partitions
//! (holding one record each) lags by one.

use std::{
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::bail;
use ferry_tests::kafka::TestKafka;
use rdkafka::{
    Offset, TopicPartitionList,
    admin::{AdminClient, AdminOptions, NewTopic, TopicReplication},
    client::DefaultClientContext,
    consumer::{BaseConsumer, CommitMode, Consumer},
    producer::{FutureProducer, FutureRecord},
};
use serde_json::Value;

use crate::stats::{self, Latencies};

const GROUP: &str = "bench-lag";

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Topics on the cluster (one partition each).
    #[arg(long, default_value_t = 1000)]
    pub topics: usize,
    /// Timed calls per measurement (after as many warm-up calls as a tenth).
    #[arg(long, default_value_t = 100)]
    pub calls: usize,
    /// Where ferry-api is (default: beside this binary).
    #[arg(long)]
    pub bin_dir: Option<PathBuf>,
    /// RUST_LOG for ferry's process.
    #[arg(long, default_value = "warn")]
    pub ferry_log: String,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.topics > 0 && args.calls > 0,
        "--topics and --calls must be positive"
    );
    let launch = crate::ferry::default_launch(args.bin_dir.as_deref(), &args.ferry_log, None)?;
    let broker = TestKafka::start().await;
    // Reads only: no worker is needed.
    let app = crate::ferry::scratch_app("admin", launch, false).await?;
    let http = reqwest::Client::builder().no_proxy().build()?;
    let base = app.address.clone();
    let token = app.admin_token.clone();

    println!("ferry-bench admin");
    println!(
        "  broker:   tansu 0.6.0 (memory storage) at {}",
        broker.bootstrap()
    );
    let names: Vec<String> = (0..args.topics).map(|i| format!("bench-{i:05}")).collect();
    let admin = Arc::new(broker.client::<AdminClient<DefaultClientContext>>()?);
    create_topics(&admin, &names).await?;
    produce_one_each(&broker, &names).await?;
    let _member = join_and_commit(&broker, &names).await?;
    println!(
        "  cluster:  {} topics of 1 partition, 1 record each; group `{GROUP}` committed 0 on each",
        names.len()
    );

    let cluster_id = crate::ferry::register_broker(&http, &base, &token, &broker).await?;
    let topics_url = format!("{base}/v3/clusters/{cluster_id}/topics");
    let lags_url = format!("{base}/v3/clusters/{cluster_id}/consumer-groups/{GROUP}/lags");

    // Check once that both sides see the same thing before timing them.
    let listed = get(&http, &token, &topics_url).await?;
    let listed = listed["data"].as_array().map_or(0, Vec::len);
    let lags = get(&http, &token, &lags_url).await?;
    let lag_rows = lags["data"].as_array().cloned().unwrap_or_default();
    let total: i64 = lag_rows.iter().filter_map(|l| l["lag"].as_i64()).sum();
    if listed < names.len() || lag_rows.len() != names.len() {
        bail!(
            "ferry sees {listed} topics and {} lag rows, expected {}",
            lag_rows.len(),
            names.len()
        );
    }
    println!(
        "  checked:  ferry lists {listed} topics and {} lag rows (total lag {total})",
        lag_rows.len()
    );
    let size = |body: &Value| body.to_string().len() / 1024;
    println!(
        "  bodies:   topic list {} KiB, lag list {} KiB of JSON (the direct calls return librdkafka structs)",
        size(&get(&http, &token, &topics_url).await?),
        size(&lags)
    );

    let warm = (args.calls / 10).max(1);
    let ferry_topics = time(warm, args.calls, || {
        let (http, token, url) = (http.clone(), token.clone(), topics_url.clone());
        async move { get(&http, &token, &url).await.map(drop) }
    })
    .await?;
    let direct_topics = time(warm, args.calls, || {
        let admin = admin.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                admin
                    .inner()
                    .fetch_metadata(None, Duration::from_secs(10))
                    .map(drop)
            })
            .await??;
            Ok(())
        }
    })
    .await?;
    report("list topics", &ferry_topics, &direct_topics);

    let reader = Arc::new(
        broker
            .client_config()
            .set("group.id", GROUP)
            .set("enable.auto.commit", "false")
            .create::<BaseConsumer>()?,
    );
    let mut partitions = TopicPartitionList::new();
    for name in &names {
        partitions.add_partition(name, 0);
    }
    let ferry_lags = time(warm, args.calls, || {
        let (http, token, url) = (http.clone(), token.clone(), lags_url.clone());
        async move { get(&http, &token, &url).await.map(drop) }
    })
    .await?;
    let direct_lags = time(warm, args.calls, || {
        let (admin, reader, partitions) = (admin.clone(), reader.clone(), partitions.clone());
        async move {
            tokio::task::spawn_blocking(move || direct_lag(&admin, &reader, &partitions)).await?
        }
    })
    .await?;
    report("lag", &ferry_lags, &direct_lags);

    lists_with_a_cluster_down(&http, &base, &token, warm, args.calls).await
}

/// The lists of clusters (Confluent's and TubeMQ's) with a second cluster
/// registered whose broker is down, beside the same lists before it was
/// registered: a cluster that is down is listed from memory
/// (`kafka::reachability`), so only the first list after it went down waits
/// for its timeout.
async fn lists_with_a_cluster_down(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    warm: usize,
    calls: usize,
) -> anyhow::Result<()> {
    let urls = [format!("{base}/v3/clusters"), format!("{base}/v1/cluster")];
    let list = |url: &String| {
        let (http, token, url) = (http.clone(), token.to_owned(), url.clone());
        move || {
            let (http, token, url) = (http.clone(), token.clone(), url.clone());
            async move { get(&http, &token, &url).await.map(drop) }
        }
    };
    let mut up = Vec::new();
    for url in &urls {
        up.push(time(warm, calls, list(url)).await?);
    }
    // A port nothing listens on: bound, then let go.
    let down = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let registered = http
        .post(format!("{base}/api/v1/clusters"))
        .bearer_auth(token)
        .json(&serde_json::json!({ "name": "down", "kind": "kafka", "bootstrapServers": down.to_string() }))
        .send()
        .await?;
    if !registered.status().is_success() {
        bail!(
            "registering the cluster that is down: {}",
            registered.status()
        );
    }
    let started = Instant::now();
    let first = get(http, token, &urls[0]).await?;
    let first_took = started.elapsed();
    let controllers: Vec<bool> = first["data"]
        .as_array()
        .map(|clusters| clusters.iter().map(|c| c["controller"].is_null()).collect())
        .unwrap_or_default();
    anyhow::ensure!(
        controllers.len() == 2 && controllers.iter().filter(|null| **null).count() == 1,
        "expected one cluster listed without its controller: {first}"
    );
    println!(
        "  lists of clusters, one of two down (the first list after it went down took {}):",
        stats::ms(first_took)
    );
    let p50 = |l: &Latencies| l.percentile(50.0).as_secs_f64();
    for ((url, up), name) in urls
        .iter()
        .zip(&up)
        .zip(["GET /v3/clusters", "GET /v1/cluster"])
    {
        let down = time(warm, calls, list(url)).await?;
        println!("    {name}, one down: {}", down.summary());
        println!("    {name}, all up:   {}", up.summary());
        println!(
            "    one down / all up: {:.2} at p50",
            p50(&down) / p50(up).max(1e-9)
        );
    }
    Ok(())
}

/// The direct client's lag: group description, committed offsets, end
/// offsets; checks that every partition lags by one.
fn direct_lag(
    admin: &AdminClient<DefaultClientContext>,
    reader: &BaseConsumer,
    partitions: &TopicPartitionList,
) -> anyhow::Result<()> {
    let timeout = Duration::from_secs(10);
    let groups = admin.inner().fetch_group_list(Some(GROUP), timeout)?;
    anyhow::ensure!(groups.groups().len() == 1, "group not found directly");
    let committed = reader.committed_offsets(partitions.clone(), timeout)?;
    let mut latest = TopicPartitionList::new();
    for e in partitions.elements() {
        latest.add_partition_offset(e.topic(), e.partition(), Offset::End)?;
    }
    let ends = reader.offsets_for_times(latest, timeout)?;
    let mut total = 0;
    for (c, e) in committed.elements().iter().zip(ends.elements().iter()) {
        if let (Offset::Offset(c), Offset::Offset(e)) = (c.offset(), e.offset()) {
            total += e - c;
        }
    }
    anyhow::ensure!(
        total == partitions.count() as i64,
        "direct lag {total}, expected {}",
        partitions.count()
    );
    Ok(())
}

pub(crate) async fn get(http: &reqwest::Client, token: &str, url: &str) -> anyhow::Result<Value> {
    let resp = http.get(url).bearer_auth(token).send().await?;
    let status = resp.status();
    let body: Value = resp.json().await?;
    if !status.is_success() {
        bail!("GET {url} -> {status}: {body}");
    }
    Ok(body)
}

/// Runs `op` `warm` times untimed, then `calls` times one after another.
pub(crate) async fn time<F, Fut>(warm: usize, calls: usize, mut op: F) -> anyhow::Result<Latencies>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    for _ in 0..warm {
        op().await?;
    }
    let mut samples = Vec::with_capacity(calls);
    for _ in 0..calls {
        let started = Instant::now();
        op().await?;
        samples.push(started.elapsed());
    }
    Ok(Latencies::new(samples))
}

fn report(what: &str, ferry: &Latencies, direct: &Latencies) {
    let p50 = |l: &Latencies| l.percentile(50.0).as_secs_f64();
    println!("  {what}:");
    println!("    ferry (HTTP, v3):  {}", ferry.summary());
    println!("    direct (rdkafka):  {}", direct.summary());
    println!(
        "    ferry / direct:    {:.2} at p50 ({} more per call)",
        p50(ferry) / p50(direct).max(1e-9),
        stats::ms(Duration::from_secs_f64((p50(ferry) - p50(direct)).max(0.0)))
    );
}

pub(crate) async fn create_topics(
    admin: &AdminClient<DefaultClientContext>,
    names: &[String],
) -> anyhow::Result<()> {
    let topics: Vec<NewTopic<'_>> = names
        .iter()
        .map(|n| NewTopic::new(n, 1, TopicReplication::Fixed(1)))
        .collect();
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(60)));
    for result in admin.create_topics(&topics, &opts).await? {
        if let Err((name, code)) = result {
            bail!("creating {name} failed: {code}");
        }
    }
    Ok(())
}

async fn produce_one_each(broker: &TestKafka, names: &[String]) -> anyhow::Result<()> {
    let producer: FutureProducer = broker
        .client_config()
        .set("message.timeout.ms", "30000")
        .create()?;
    let sends = names.iter().map(|name| {
        let producer = producer.clone();
        async move {
            producer
                .send(
                    FutureRecord::<(), str>::to(name).partition(0).payload("x"),
                    Duration::from_secs(30),
                )
                .await
                .map(drop)
                .map_err(|(e, _)| anyhow::anyhow!("producing to {name}: {e}"))
        }
    });
    futures::future::try_join_all(sends).await?;
    Ok(())
}

/// A member of the group that subscribed to every topic, has its assignment,
/// and committed offset 0 everywhere; it stays in the group until dropped.
async fn join_and_commit(broker: &TestKafka, names: &[String]) -> anyhow::Result<BaseConsumer> {
    let names = names.to_vec();
    let consumer: BaseConsumer = broker
        .client_config()
        .set("group.id", GROUP)
        .set("enable.auto.commit", "false")
        .set("max.poll.interval.ms", "3600000")
        .create()?;
    tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        consumer.subscribe(&refs)?;
        let deadline = Instant::now() + Duration::from_secs(120);
        while consumer.assignment()?.count() == 0 {
            if Instant::now() > deadline {
                bail!("the benchmark consumer got no assignment within 120 s");
            }
            let _ = consumer.poll(Duration::from_millis(100));
        }
        let mut offsets = TopicPartitionList::new();
        for name in &names {
            offsets.add_partition_offset(name, 0, Offset::Offset(0))?;
        }
        consumer.commit(&offsets, CommitMode::Sync)?;
        Ok(consumer)
    })
    .await?
}
