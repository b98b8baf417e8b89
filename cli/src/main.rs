//! `ferry`: parses the command line and hands it to [`ferry_cli::run`],
//! whose answer is the process's exit code.

use clap::Parser;

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    ferry_cli::run(ferry_cli::Cli::parse()).await
}
