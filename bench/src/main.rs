//! `ferry-bench`: benchmarks that print each figure of ferry beside the limit
//! of the raw operation underneath it, measured in the same run against the
//! same database, so that the ratio between the two means something even on a
//! noisy, shared machine where absolute times do not.
//!
//! Each scenario is one subcommand and one module. The ferry binaries are not
//! linked in: they run as separate processes, exactly as they are deployed, and
//! are found next to this binary (build them first with
//! `cargo build --release --bins`). Processes, scratch databases and the tansu
//! broker are started by the black-box tests' harness (`ferry_tests`).

mod admin;
mod changefeed;
mod changesets;
mod console;
mod consume;
mod db;
mod ferry;
mod kafka_sink;
mod load;
mod produce;
mod sampling;
mod stats;
mod tasks;
mod topics;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "ferry-bench",
    version,
    about = "ferry benchmarks: each figure beside its raw limit"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Task submission through the HTTP API and no-op task execution by
    /// workers, beside raw INSERTs and a raw SKIP LOCKED claim loop.
    Tasks(tasks::Args),
    /// Topic creation through TubeMQ's addTopicTask until writable, beside
    /// one direct batched CreateTopics on the same broker.
    Topics(topics::Args),
    /// A changeset's plan of 1,000 topics beside the direct reads of the
    /// same state (Metadata, DescribeConfigs) and the 1 s budget.
    Changesets(changesets::Args),
    /// Rows/s replicated by a changefeed beside direct batched INSERTs, and
    /// end-to-end lag at a steady rate.
    Changefeed(changefeed::Args),
    /// Messages/s produced by a changefeed into Kafka (canal-json) beside a
    /// raw idempotent rdkafka producer sending as many messages of that size.
    KafkaSink(kafka_sink::Args),
    /// Confluent v3 reads (list topics, consumer lag) on 1,000 topics,
    /// beside the same reads made directly with rdkafka.
    Admin(admin::Args),
    /// Statistics over time: the worker's time per sample of a cluster of
    /// 1,000 topics of 10 partitions beside the same reads made directly and
    /// the 2 s budget, and the SQLite bytes 90 days of samples take beside
    /// the 1 GiB budget.
    Stats(sampling::Args),
    /// Records/s produced through REST Proxy v2 (batched calls) and v3
    /// (streamed records) beside a raw rdkafka producer.
    Produce(produce::Args),
    /// Records/s read through a REST Proxy v2 consumer instance beside a
    /// raw rdkafka consumer reading the same records.
    Consume(consume::Args),
    /// The web console's task list and cluster page on 100,000 tasks and
    /// 1,000 topics: server time beside the raw reads, render time in
    /// chromium and the console's weight, each beside its budget.
    Console(console::Args),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Tasks(args) => tasks::run(args).await,
        Command::Topics(args) => topics::run(args).await,
        Command::Changefeed(args) => changefeed::run(args).await,
        Command::Admin(args) => admin::run(args).await,
        Command::Changesets(args) => changesets::run(args).await,
        Command::KafkaSink(args) => kafka_sink::run(args).await,
        Command::Stats(args) => sampling::run(args).await,
        Command::Produce(args) => produce::run(args).await,
        Command::Consume(args) => consume::run(args).await,
        Command::Console(args) => console::run(args).await,
    }
}
