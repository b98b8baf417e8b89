//! `ferry-worker`: runs task workers against the metadata store.

use std::path::PathBuf;

use clap::Parser;

#[derive(Parser)]
#[command(name = "ferry-worker", version, about = "ferry task worker")]
struct Cli {
    /// A TOML config file; FERRY_* environment variables override it.
    #[arg(long)]
    config: Option<PathBuf>,
}

/// A changefeed allocates on one thread what another frees (row changes go
/// from the binlog reader's task to the Kafka producer's, deliveries from
/// librdkafka's thread back to tokio's). glibc's malloc serialises such frees
/// on its arena locks, which took a fifth of a Kafka catch-up's profile in
/// futex wake-ups and `_int_malloc`; mimalloc frees across threads without
/// taking a lock.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = ferry_service::settings::Settings::load(cli.config.as_deref())?;
    ferry_worker::run(settings).await
}
