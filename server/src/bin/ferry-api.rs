//! `ferry-api`: the HTTP API; with `--with-worker`, a worker in the same
//! process too (the embedded default). The two are composed here so that
//! the API library does not depend on the worker.

// The application's endpoint type nests every route and middleware layer;
// rustc's default query depth (128) is too shallow for it in a release
// build ("queries overflow the depth limit").
#![recursion_limit = "256"]

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

/// With `--with-worker` this process runs changefeeds too: memory allocated
/// on one thread and freed on another (see `ferry-worker.rs`), which mimalloc
/// handles without glibc's arena locks.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = ferry_service::settings::Settings::load(cli.config.as_deref())?;
    let worker = cli.with_worker.then(|| {
        let settings = settings.clone();
        Box::new(move |store, stop| {
            Box::pin(ferry_worker::run_with(store, settings, stop)) as ferry_api::WorkerRun
        }) as ferry_api::Worker
    });
    ferry_api::run(settings, worker).await
}
