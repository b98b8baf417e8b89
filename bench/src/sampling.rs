//! `ferry-bench stats`: what statistics over time cost, beside their budget
//! and beside the raw Kafka reads a sample consists of, in the same run:
//!
//! - sampling cost: a cluster of `--topics` topics of `--partitions`
//!   partitions (one record on each partition, one consumer group committed
//!   on every partition) sampled by ferry's worker every 5 s; the process
//!   CPU time and the wall time the worker takes per sample
//!   (`ferry_stats_sample_cpu_seconds` and
//!   `ferry_stats_sample_duration_seconds` in `/metrics`) beside the CPU
//!   and wall time of the same reads made directly with rdkafka in this
//!   process (one Metadata, the earliest and latest offsets of every
//!   partition, the group's committed offsets), and beside the 2 s budget,
//!   which is CPU time: the wall time is mostly the broker's;
//! - storage: the bytes the statistics tables take on SQLite per stored
//!   topic sample (b-tree pages, free space included), extrapolated to a
//!   day of raw samples at the default 60 s interval and to 90 days with
//!   the roll-ups (a day raw, 7 days at 10 minutes, 90 days at 1 hour),
//!   beside the 1 GiB budget. tansu reports no log sizes; the bench then
//!   grows every stored row by the bytes ten partitions' log sizes take
//!   with one and with three replicas per partition, in ferry's layout and
//!   in the flat layout it used before (`storage.rs`), measuring each.

mod storage;

use std::{
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use ferry_tests::{TestApp, kafka::TestKafka};
use rdkafka::{
    Offset, TopicPartitionList,
    admin::{AdminClient, AdminOptions, NewTopic, TopicReplication},
    client::DefaultClientContext,
    consumer::{BaseConsumer, CommitMode, Consumer},
    producer::{FutureProducer, FutureRecord},
};

use crate::stats::{Latencies, ms};

const GROUP: &str = "bench-stats";
/// The sampling interval of the run; the figures are per sample.
const INTERVAL_SECONDS: u64 = 5;
/// The CPU time budget of a sample (issue #18).
const SAMPLE_BUDGET: Duration = Duration::from_secs(2);

#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long, default_value_t = 1000)]
    pub topics: usize,
    #[arg(long, default_value_t = 10)]
    pub partitions: i32,
    /// Samples to wait for (the first, which interns every name, included).
    #[arg(long, default_value_t = 12)]
    pub samples: u64,
    /// Where ferry-api is (default: beside this binary).
    #[arg(long)]
    pub bin_dir: Option<PathBuf>,
    /// RUST_LOG for ferry's process.
    #[arg(long, default_value = "warn")]
    pub ferry_log: String,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.topics > 0 && args.partitions > 0 && args.samples > 1,
        "--topics and --partitions must be positive, --samples at least 2"
    );
    let mut launch = crate::ferry::default_launch(args.bin_dir.as_deref(), &args.ferry_log, None)?;
    launch.env.push((
        "FERRY_STATS__INTERVAL_SECONDS".into(),
        INTERVAL_SECONDS.to_string(),
    ));
    let broker = TestKafka::start().await;
    println!("ferry-bench stats");
    println!(
        "  broker:   tansu 0.6.0 (memory storage) at {}",
        broker.bootstrap()
    );
    let names: Vec<String> = (0..args.topics).map(|i| format!("bench-{i:05}")).collect();
    let admin = Arc::new(broker.client::<AdminClient<DefaultClientContext>>()?);
    create_topics(&admin, &names, args.partitions).await?;
    produce_everywhere(&broker, &names, args.partitions).await?;
    let partitions = partition_list(&names, args.partitions)?;
    commit_everywhere(&broker, &partitions).await?;
    println!(
        "  cluster:  {} topics of {} partitions, 1 record on each; group `{GROUP}` committed on each",
        names.len(),
        args.partitions
    );

    let mut app = crate::ferry::scratch_app("stats", launch, true).await?;
    let http = reqwest::Client::builder().no_proxy().build()?;
    let cluster_id =
        crate::ferry::register_broker(&http, &app.address, &app.admin_token, &broker).await?;

    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.samples * INTERVAL_SECONDS * 4 + 120);
    // The first sample also interns every topic name: it is reported apart.
    let mut first: Option<SampleSummary> = None;
    let summary = loop {
        let summary = sample_summary(&http, &app, &cluster_id).await?;
        if first.is_none() && summary.count >= 1 {
            first = Some(summary.clone());
        }
        if summary.count >= args.samples {
            break summary;
        }
        if Instant::now() > deadline {
            bail!(
                "only {} samples after {:?}; is the worker sampling?",
                summary.count,
                started.elapsed()
            );
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let first = first.context("no first sample")?;
    let steady = summary.since(&first);

    let reader = Arc::new(
        broker
            .client_config()
            .set("group.id", GROUP)
            .set("enable.auto.commit", "false")
            .create::<BaseConsumer>()?,
    );
    let (mut direct_wall, mut direct_cpu) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        let (admin, reader, partitions) = (admin.clone(), reader.clone(), partitions.clone());
        let cost = tokio::task::spawn_blocking(move || direct_reads(&admin, &reader, &partitions))
            .await??;
        direct_wall.push(cost.wall);
        direct_cpu.push(cost.cpu);
    }
    let (direct_wall, direct_cpu) = (Latencies::new(direct_wall), Latencies::new(direct_cpu));
    let (direct_wall, direct_cpu) = (direct_wall.percentile(50.0), direct_cpu.percentile(50.0));
    println!(
        "  sampling ({} samples every {INTERVAL_SECONDS} s; means after the first, which also interns every name):",
        summary.count
    );
    println!(
        "    ferry worker per sample:   CPU {}, wall {} (first: CPU {}, wall {}; last: CPU {}, wall {})",
        ms(steady.cpu),
        ms(steady.wall),
        ms(first.cpu_mean()),
        ms(first.wall_mean()),
        ms(summary.last_cpu),
        ms(summary.last_wall)
    );
    println!(
        "    direct reads (rdkafka):    CPU {}, wall {} (p50 of 5; Metadata, earliest and latest offsets, committed offsets)",
        ms(direct_cpu),
        ms(direct_wall)
    );
    println!(
        "    ferry / direct:            CPU {:.2}, wall {:.2}",
        ratio(steady.cpu, direct_cpu),
        ratio(steady.wall, direct_wall)
    );
    println!(
        "    budget:                    {} of CPU -> ferry's mean is {:.0}% of it, the direct reads alone {:.0}%",
        ms(SAMPLE_BUDGET),
        100.0 * ratio(steady.cpu, SAMPLE_BUDGET),
        100.0 * ratio(direct_cpu, SAMPLE_BUDGET)
    );

    // Stop sampling before measuring the tables.
    app.api.kill();
    storage::report(&app, args.topics).await
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64().max(1e-9)
}

#[derive(Clone)]
struct SampleSummary {
    count: u64,
    /// Seconds of wall and of CPU time, over every sample so far.
    wall_sum: f64,
    cpu_sum: f64,
    /// The last sample's.
    last_wall: Duration,
    last_cpu: Duration,
}

/// The mean wall and CPU time of some samples.
struct Means {
    wall: Duration,
    cpu: Duration,
}

impl SampleSummary {
    fn wall_mean(&self) -> Duration {
        Duration::from_secs_f64(self.wall_sum / self.count.max(1) as f64)
    }

    fn cpu_mean(&self) -> Duration {
        Duration::from_secs_f64(self.cpu_sum / self.count.max(1) as f64)
    }

    /// The means of the samples taken after `earlier`'s.
    fn since(&self, earlier: &SampleSummary) -> Means {
        let n = self.count.saturating_sub(earlier.count).max(1) as f64;
        Means {
            wall: Duration::from_secs_f64(((self.wall_sum - earlier.wall_sum) / n).max(0.0)),
            cpu: Duration::from_secs_f64(((self.cpu_sum - earlier.cpu_sum) / n).max(0.0)),
        }
    }
}

/// The worker's sample costs from the API's `/metrics` (the worker runs in
/// the same process): the histograms' counts and sums, and the last
/// sample's gauges.
async fn sample_summary(
    http: &reqwest::Client,
    app: &TestApp,
    cluster: &str,
) -> anyhow::Result<SampleSummary> {
    let text = http
        .get(format!("{}/metrics", app.address))
        .bearer_auth(&app.admin_token)
        .send()
        .await?
        .text()
        .await?;
    let value = |name: &str| -> f64 {
        let prefix = format!("{name}{{cluster=\"{cluster}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0.0)
    };
    let seconds = |name: &str| Duration::from_secs_f64(value(name).max(0.0));
    Ok(SampleSummary {
        count: value("ferry_stats_sample_duration_seconds_count") as u64,
        wall_sum: value("ferry_stats_sample_duration_seconds_sum"),
        cpu_sum: value("ferry_stats_sample_cpu_seconds_sum"),
        last_wall: seconds("ferry_stats_last_sample_duration_seconds"),
        last_cpu: seconds("ferry_stats_last_sample_cpu_seconds"),
    })
}

/// What the direct reads of one sample took.
struct Cost {
    wall: Duration,
    /// This process's CPU time, every thread (rdkafka's) included.
    cpu: Duration,
}

fn process_cpu_time() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Duration::try_from(t).unwrap_or_default()
}

/// The raw reads of one sample, timed.
fn direct_reads(
    admin: &AdminClient<DefaultClientContext>,
    reader: &BaseConsumer,
    partitions: &TopicPartitionList,
) -> anyhow::Result<Cost> {
    let timeout = Duration::from_secs(30);
    let (started, cpu) = (Instant::now(), process_cpu_time());
    admin.inner().fetch_metadata(None, timeout)?;
    for offset in [Offset::Beginning, Offset::End] {
        let mut wanted = TopicPartitionList::new();
        for e in partitions.elements() {
            wanted.add_partition_offset(e.topic(), e.partition(), offset)?;
        }
        let found = reader.offsets_for_times(wanted, timeout)?;
        anyhow::ensure!(found.count() == partitions.count(), "offsets missing");
    }
    let committed = reader.committed_offsets(partitions.clone(), timeout)?;
    anyhow::ensure!(committed.count() == partitions.count(), "commits missing");
    Ok(Cost {
        wall: started.elapsed(),
        cpu: process_cpu_time().saturating_sub(cpu),
    })
}

fn partition_list(names: &[String], partitions: i32) -> anyhow::Result<TopicPartitionList> {
    let mut list = TopicPartitionList::new();
    for name in names {
        for p in 0..partitions {
            list.add_partition_offset(name, p, Offset::Offset(1))?;
        }
    }
    Ok(list)
}

async fn create_topics(
    admin: &AdminClient<DefaultClientContext>,
    names: &[String],
    partitions: i32,
) -> anyhow::Result<()> {
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(60)));
    for chunk in names.chunks(100) {
        let topics: Vec<NewTopic<'_>> = chunk
            .iter()
            .map(|n| NewTopic::new(n, partitions, TopicReplication::Fixed(1)))
            .collect();
        for result in admin.create_topics(&topics, &opts).await? {
            if let Err((name, code)) = result {
                bail!("creating {name} failed: {code}");
            }
        }
    }
    Ok(())
}

async fn produce_everywhere(
    broker: &TestKafka,
    names: &[String],
    partitions: i32,
) -> anyhow::Result<()> {
    let producer: FutureProducer = broker
        .client_config()
        .set("message.timeout.ms", "60000")
        .create()?;
    let payload = vec![b'x'; 200];
    for chunk in names.chunks(100) {
        let sends = chunk.iter().flat_map(|name| {
            let (producer, payload) = (producer.clone(), payload.clone());
            (0..partitions).map(move |p| {
                let (producer, payload) = (producer.clone(), payload.clone());
                async move {
                    producer
                        .send(
                            FutureRecord::<(), [u8]>::to(name)
                                .partition(p)
                                .payload(&payload),
                            Duration::from_secs(60),
                        )
                        .await
                        .map(drop)
                        .map_err(|(e, _)| anyhow::anyhow!("producing to {name}/{p}: {e}"))
                }
            })
        });
        futures::future::try_join_all(sends).await?;
    }
    Ok(())
}

/// Commits offset 1 on every partition for the group, without joining it
/// (a simple group's commit, as tools that reset offsets make).
async fn commit_everywhere(
    broker: &TestKafka,
    partitions: &TopicPartitionList,
) -> anyhow::Result<()> {
    let consumer: BaseConsumer = broker
        .client_config()
        .set("group.id", GROUP)
        .set("enable.auto.commit", "false")
        .create()?;
    let partitions = partitions.clone();
    tokio::task::spawn_blocking(move || consumer.commit(&partitions, CommitMode::Sync)).await??;
    Ok(())
}
