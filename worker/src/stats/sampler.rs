//! The sampler of one cluster: at every multiple of the interval it reads a
//! sample (`collect.rs`), turns it into one row per topic, stores it as a
//! raw sample and, in the same transaction, rolls the previous sample up
//! into a coarser tier when it was the last of its 10 minutes or hour, and
//! prunes aged rows once an hour. Each sample's wall time and the process
//! CPU time it took are recorded (`ferry_stats_sample_duration_seconds`,
//! `ferry_stats_sample_cpu_seconds` and the cluster's `stat_samplers` row):
//! the budget of a sample is CPU time, as the wall time is mostly the
//! broker's.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use chrono::Utc;
use ferry_entity::{
    ClusterId,
    stat_sample::{GroupSample, LogSize, SampleDetail, Tier},
};
use tokio_util::sync::CancellationToken;

use super::{
    collect::{self, ClusterSample, LogDirs},
    lease,
    record_size::{self, Newest},
};
use crate::kafka::wire::WireTarget;
use ferry_service::{
    clusters,
    error::ServiceError,
    kafka::{KafkaClients, client_config},
    stats::{self, TierRows, TopicSample},
    store::Store,
};

/// Most topics whose newest record is fetched per sample to learn their
/// record size, and the time that may take: bounded so that a cluster where
/// every topic moves still samples within its budget.
const SIZE_PROBES_PER_SAMPLE: usize = 200;
const SIZE_PROBE_BUDGET: Duration = Duration::from_millis(500);
/// How often aged rows are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

pub(super) struct Sampler {
    store: Store,
    me: String,
    kafka: KafkaClients,
    cluster: ClusterId,
    interval: Duration,
    names: HashMap<String, i64>,
    /// Each topic's last known mean record size.
    record_bytes: HashMap<String, f64>,
    /// Each topic's produced count at the previous sample.
    produced: HashMap<String, i64>,
    /// The previous sample, rolled up once the next falls in another bucket.
    previous: Option<(i64, Vec<TopicSample>)>,
    log_dirs: LogDirs,
    pruned_at: Option<Instant>,
    probe_round: usize,
}

impl Sampler {
    pub(super) fn new(
        store: Store,
        me: String,
        kafka: KafkaClients,
        cluster: i64,
        interval: Duration,
    ) -> Self {
        Self {
            store,
            me,
            kafka,
            cluster: ClusterId(cluster),
            interval,
            names: HashMap::new(),
            record_bytes: HashMap::new(),
            produced: HashMap::new(),
            previous: None,
            log_dirs: LogDirs::Ask,
            pruned_at: None,
            probe_round: 0,
        }
    }

    pub(super) async fn run(mut self, stop: CancellationToken) {
        let cluster = self.cluster.0;
        let interval_ms = self.interval.as_millis() as i64;
        loop {
            // Samples fall on multiples of the interval, so that the raw
            // points of every cluster line up on the step.
            let now_ms = Utc::now().timestamp_millis();
            let next_ms = (now_ms / interval_ms + 1) * interval_ms;
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_millis((next_ms - now_ms) as u64)) => {}
            }
            let (started, cpu_before) = (Instant::now(), process_cpu_time());
            let outcome = self.sample_once(next_ms / 1000).await;
            let took = started.elapsed();
            let cpu = process_cpu_time().saturating_sub(cpu_before);
            metrics::histogram!("ferry_stats_sample_duration_seconds", "cluster" => cluster.to_string())
                .record(took.as_secs_f64());
            metrics::histogram!("ferry_stats_sample_cpu_seconds", "cluster" => cluster.to_string())
                .record(cpu.as_secs_f64());
            let missed = (took.as_millis() as i64) / interval_ms;
            if missed > 0 {
                tracing::warn!(
                    cluster,
                    took_s = took.as_secs_f64(),
                    missed,
                    "statistics sampler fell behind its interval"
                );
                metrics::counter!("ferry_stats_samples_missed_total", "cluster" => cluster.to_string())
                    .increment(missed as u64);
            }
            let error = outcome.err().map(|e| {
                tracing::warn!(cluster, error = %e.detail(), "statistics sample failed");
                metrics::counter!("ferry_stats_sample_failures_total", "cluster" => cluster.to_string()).increment(1);
                e.message().to_owned()
            });
            let outcome = lease::Outcome {
                at_ms: next_ms,
                duration_ms: took.as_millis() as i64,
                cpu_ms: cpu.as_millis() as i64,
                error,
            };
            let recorded = lease::record(&self.store, cluster, &self.me, outcome).await;
            if let Err(err) = recorded {
                tracing::warn!(cluster, error = %err, "recording the statistics sample's outcome failed");
            }
        }
    }

    async fn sample_once(&mut self, ts: i64) -> Result<(), ServiceError> {
        let kafka = self.kafka.get(&self.store, self.cluster).await?;
        let conn = clusters::connection(&self.store, self.cluster).await?;
        let wire = WireTarget::new(&conn.settings, conn.sasl_password.as_ref());
        let timeout = self.interval.min(Duration::from_secs(10));
        let at = Instant::now();
        let sample = collect::sample(&kafka, Some(&wire), &mut self.log_dirs, timeout)
            .await
            .map_err(|e| {
                ServiceError::unavailable(
                    "sampling the cluster",
                    format!("the cluster did not answer: {e}"),
                )
            })?;
        let read = at.elapsed();
        self.learn_record_sizes(&sample, client_config(&conn)).await;
        let learned = at.elapsed();
        let rows = self.rows(&sample).await?;
        let topics = rows.len();
        self.store_rows(ts, rows).await?;
        tracing::debug!(
            cluster = self.cluster.0,
            topics,
            read_ms = read.as_millis() as u64,
            sizes_ms = (learned - read).as_millis() as u64,
            total_ms = at.elapsed().as_millis() as u64,
            "statistics sample stored"
        );
        if self.pruned_at.is_none_or(|at| at.elapsed() >= PRUNE_EVERY) {
            let ids: Vec<i64> = self.names.values().copied().collect();
            let deleted = stats::prune(&self.store, self.cluster, &ids, ts).await?;
            tracing::debug!(cluster = self.cluster.0, deleted, "statistics pruned");
            self.pruned_at = Some(Instant::now());
        }
        Ok(())
    }

    /// Mean record sizes: from the leaders' log sizes where the brokers
    /// report them, else from the newest record of topics that moved.
    async fn learn_record_sizes(&mut self, sample: &ClusterSample, config: rdkafka::ClientConfig) {
        let mut probes = Vec::new();
        for (name, f) in &sample.topics {
            let produced = f.produced();
            let moved = self.produced.insert(name.clone(), produced) != Some(produced);
            match f.leader_bytes() {
                Some(bytes) if f.messages() > 0 => {
                    self.record_bytes
                        .insert(name.clone(), bytes as f64 / f.messages() as f64);
                }
                _ if moved || !self.record_bytes.contains_key(name) => {
                    // The partition written to most recently is as good as
                    // any; the one with the most messages is the likeliest
                    // to still hold its newest record.
                    if let Some((partition, _, end)) = f
                        .partitions
                        .iter()
                        .filter(|(_, s, e)| e > s)
                        .max_by_key(|(_, s, e)| e - s)
                    {
                        probes.push(Newest {
                            topic: name.clone(),
                            partition: *partition,
                            offset: end - 1,
                        });
                    }
                }
                _ => {}
            }
        }
        if probes.len() > SIZE_PROBES_PER_SAMPLE {
            // Rotate, so that every moving topic is measured in turn.
            let shift = (self.probe_round * SIZE_PROBES_PER_SAMPLE) % probes.len();
            probes.rotate_left(shift);
            probes.truncate(SIZE_PROBES_PER_SAMPLE);
            self.probe_round += 1;
        }
        let sizes = record_size::mean_sizes(config, probes, SIZE_PROBE_BUDGET).await;
        self.record_bytes.extend(sizes);
    }

    /// One row per topic, with names interned.
    async fn rows(&mut self, sample: &ClusterSample) -> Result<Vec<TopicSample>, ServiceError> {
        let unknown: Vec<String> = sample
            .topics
            .iter()
            .flat_map(|(name, f)| std::iter::once(name).chain(f.groups.keys()))
            .filter(|n| !self.names.contains_key(*n))
            .cloned()
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        if !unknown.is_empty() {
            let ids = stats::intern(&self.store, self.cluster, &unknown).await?;
            self.names.extend(ids);
        }
        let mut rows = Vec::with_capacity(sample.topics.len());
        for (name, f) in &sample.topics {
            let Some(&topic_id) = self.names.get(name) else {
                continue;
            };
            let groups = f
                .groups
                .iter()
                .filter_map(|(group, (committed, lag))| {
                    Some(GroupSample {
                        group_id: *self.names.get(group)?,
                        committed: *committed,
                        lag: *lag,
                    })
                })
                .collect();
            let log_sizes = f
                .log_sizes
                .iter()
                .map(|(partition, broker, bytes)| LogSize {
                    partition: *partition,
                    broker: *broker,
                    bytes: *bytes,
                })
                .collect();
            rows.push(TopicSample {
                topic_id,
                messages: f.messages(),
                produced: f.produced(),
                record_bytes: self.record_bytes.get(name).copied(),
                detail: SampleDetail { groups, log_sizes },
            });
        }
        Ok(rows)
    }

    /// Stores the sample's raw rows and, in the same transaction, rolls
    /// the previous sample up into each coarse tier whose bucket it closed:
    /// the last sample of a 10 minutes or an hour stands for it. Should the
    /// write fail, the previous sample stays the one to roll up.
    async fn store_rows(&mut self, ts: i64, rows: Vec<TopicSample>) -> Result<(), ServiceError> {
        let previous = self.previous.take();
        let mut writes = vec![TierRows {
            tier: Tier::Raw,
            ts,
            rows: &rows,
        }];
        if let Some((prev_ts, prev_rows)) = &previous {
            for tier in Tier::COARSE {
                let step = tier.step_seconds().unwrap_or(1);
                if prev_ts.div_euclid(step) != ts.div_euclid(step) {
                    writes.push(TierRows {
                        tier,
                        ts: *prev_ts,
                        rows: prev_rows,
                    });
                }
            }
        }
        let stored = stats::record_topic_samples(&self.store, self.cluster, &writes).await;
        drop(writes);
        self.previous = match stored {
            Ok(()) => Some((ts, rows)),
            Err(_) => previous,
        };
        stored
    }
}

/// The CPU time this process has used, all threads included: librdkafka's
/// threads do much of a sample's work, so the sampler's own thread's time
/// would miss it. Whatever else the process does during a sample (other
/// samplers, jobs, the API when it runs alongside) is counted too, which
/// makes the figure an upper bound of the sample's cost.
fn process_cpu_time() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    // The clock counts up from zero: it is never negative.
    Duration::try_from(t).unwrap_or_default()
}
