//! `ferry-api`: the HTTP API, optionally with a worker in the same process.

use std::path::PathBuf;

use clap::Parser;

#[derive(Parser)]
#[command(name = "ferry-api", version, about = "ferry HTTP API")]
struct Cli {
    /// A TOML config file; FERRY_* environment variables override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Also run a task worker in this process (the embedded default).
    #[arg(long)]
    with_worker: bool,
}

/// With `--with-worker` this process runs changefeeds too; it uses the same
/// allocator as `ferry-worker` for the same reason (see its `main.rs`):
/// memory allocated on one thread and freed on another, which mimalloc
/// handles without glibc's arena locks.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = ferry_worker::settings::Settings::load(cli.config.as_deref())?;
    ferry_api::run(settings, cli.with_worker).await
}
