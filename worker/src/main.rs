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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = ferry_worker::settings::Settings::load(cli.config.as_deref())?;
    ferry_worker::run(settings).await
}
