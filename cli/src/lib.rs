//! The `ferry` command-line client: what a CI hook or a person runs instead
//! of scripting HTTP calls against a ferry server. It speaks ferry's own APIs
//! through [`client::Client`] (a hand-kept typed client of the few routes it
//! uses) and turns every outcome into an [`Exit`] code a CI job can branch on.
//!
//! Output is a readable table by default and the API's own JSON with
//! `--output json`; waits show a progress bar on a terminal and plain
//! progress lines otherwise. The token comes from `FERRY_TOKEN` (or
//! `--token`) and is held in a redacting type: it is sent only as the
//! `Authorization` header and never printed.

pub mod client;
mod commands;
mod output;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use secrecy::SecretString;

use self::{client::Client, output::Printer};
pub use self::{commands::CliError, output::Output};

/// What the process answers, for a CI job to branch on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Everything asked for is done (or already was).
    Done = 0,
    /// A task failed or was cancelled, the server refused the request, or a
    /// topic cannot be written to.
    Failed = 1,
    /// The command line is wrong. clap answers it before a command runs;
    /// it is named here so that the codes are listed in one place.
    Usage = 2,
    /// A wait ended before its tasks did; they go on running.
    TimedOut = 3,
    /// The server could not be reached or answered that it is unavailable
    /// (5xx): worth retrying. Code 4 is kept for drift (issue #21).
    Unavailable = 5,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit as u8)
    }
}

#[derive(Debug, Parser)]
#[command(
    name = "ferry",
    version,
    about = "The command-line client of a ferry server"
)]
pub struct Cli {
    /// The ferry server's address.
    #[arg(
        long,
        env = "FERRY_URL",
        default_value = "http://127.0.0.1:4116",
        global = true
    )]
    url: String,
    /// An API token (global or a project's). Prefer FERRY_TOKEN: a command
    /// line is visible to other users of the machine.
    #[arg(long, env = "FERRY_TOKEN", hide_env_values = true, global = true)]
    token: Option<String>,
    /// How answers are printed.
    #[arg(long, value_enum, default_value_t = Output::Table, global = true)]
    output: Output,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Durable tasks: list, show, wait for, cancel.
    #[command(subcommand)]
    Tasks(commands::tasks::TasksCommand),
    /// Changefeeds (TiEM's API): list, show, pause, resume, delete.
    #[command(subcommand)]
    Changefeeds(commands::changefeeds::ChangefeedsCommand),
    /// Kafka topics: make sure they exist.
    #[command(subcommand)]
    Topics(commands::topics::TopicsCommand),
    /// Whether producers can write to a topic now: exit 0 if so, 1 if not
    /// (or if the topic does not exist).
    CanWrite {
        /// The cluster's id.
        cluster: String,
        /// The topic's name.
        topic: String,
    },
}

/// Runs one command and answers the process's exit code. Errors are printed
/// to standard error, one line each.
pub async fn run(cli: Cli) -> ExitCode {
    let printer = Printer::new(cli.output);
    // The token moves into a redacting type before anything else happens.
    let token = cli.token.map(SecretString::from);
    let client = match Client::new(&cli.url, token) {
        Ok(client) => client,
        Err(err) => return report(CliError::from(err)),
    };
    let result = match cli.command {
        Command::Tasks(command) => commands::tasks::run(&client, &printer, command).await,
        Command::Changefeeds(command) => {
            commands::changefeeds::run(&client, &printer, command).await
        }
        Command::Topics(command) => commands::topics::run(&client, &printer, command).await,
        Command::CanWrite { cluster, topic } => {
            commands::topics::can_write(&client, &printer, &cluster, &topic).await
        }
    };
    match result {
        Ok(exit) => exit.into(),
        Err(err) => report(err),
    }
}

fn report(err: CliError) -> ExitCode {
    eprintln!("ferry: {err}");
    err.exit().into()
}
