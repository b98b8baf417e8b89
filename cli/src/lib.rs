//! The `ferry` command-line client: what a CI hook or a person runs instead
//! of scripting HTTP calls against a ferry server. It speaks ferry's own APIs
//! through [`client::Client`] (a hand-kept typed client of the few routes it
//! uses) and turns every outcome into an [`Exit`] code a CI job can branch on.
//!
//! Output is a readable table by default and the API's own JSON with
//! `--output json`; waits show a progress bar on a terminal and plain
//! progress lines otherwise. The server's address and the token come from
//! flags, else `FERRY_URL` and `FERRY_TOKEN`, else the configuration file
//! ([`config`]); the token is held in a redacting type: it is sent only as
//! the `Authorization` header and never printed.

pub mod client;
mod commands;
mod config;
mod output;

use std::{path::PathBuf, process::ExitCode};

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
    /// The cluster differs from the desired state (`ferry diff`): a plan
    /// would create, update or delete something.
    Drift = 4,
    /// The server could not be reached or answered that it is unavailable
    /// (5xx): worth retrying.
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
    /// The ferry server's address [default: the configuration file's `url`,
    /// else http://127.0.0.1:4116].
    #[arg(long, env = "FERRY_URL", global = true)]
    url: Option<String>,
    /// An API token (global or a project's). Prefer FERRY_TOKEN or the
    /// configuration file: a command line is visible to other users of the
    /// machine.
    #[arg(long, env = "FERRY_TOKEN", hide_env_values = true, global = true)]
    token: Option<String>,
    /// A TOML file with `url` and `token` [default:
    /// $XDG_CONFIG_HOME/ferry/config.toml, else ~/.config/ferry/config.toml].
    #[arg(long, env = "FERRY_CONFIG", global = true, value_name = "PATH")]
    config: Option<PathBuf>,
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
    /// Plans a desired-state document against its cluster: exit 0 when the
    /// plan can be applied, 1 when a change is refused. Nothing changes.
    Plan {
        /// The document: YAML, or JSON when its name ends in `.json`; `-`
        /// reads standard input.
        #[arg(short = 'f', long = "file", value_name = "FILE")]
        file: String,
    },
    /// Plans a document (or takes a planned changeset), asks, and applies
    /// it as tasks.
    Apply(commands::apply::ApplyArgs),
    /// Approves a changeset that waits for a second token (not the one
    /// that applied it).
    Approve {
        id: String,
        #[command(flatten)]
        wait: commands::apply::WaitArgs,
    },
    /// Goes on with a failed changeset from where it stopped.
    Resume {
        id: String,
        #[command(flatten)]
        wait: commands::apply::WaitArgs,
    },
    /// Whether the cluster differs from a document (or from what a
    /// changeset applied): exit 4 when it does, 0 when not, 1 when refused.
    Diff {
        #[command(flatten)]
        source: commands::apply::Source,
        /// Seconds to wait for a changeset's drift check.
        #[arg(long, default_value_t = 300)]
        timeout: u64,
    },
    /// Changesets: list, show.
    #[command(subcommand)]
    Changesets(commands::changesets::ChangesetsCommand),
}

/// The server's address when no flag, variable or file gives one.
const DEFAULT_URL: &str = "http://127.0.0.1:4116";

/// Runs one command and answers the process's exit code. Errors are printed
/// to standard error, one line each.
pub async fn run(cli: Cli) -> ExitCode {
    let printer = Printer::new(cli.output);
    // The token moves into a redacting type before anything else happens.
    let token = cli.token.map(SecretString::from);
    // The file is read when it is named, or when it has something to add.
    let named = cli.config.is_some();
    let file = if named || cli.url.is_none() || token.is_none() {
        match config::location(cli.config) {
            Some((path, required)) => match config::load(&path, required) {
                Ok(file) => file,
                Err(err) => return report(CliError::Usage(err)),
            },
            None => config::Config::default(),
        }
    } else {
        config::Config::default()
    };
    let url = cli
        .url
        .or(file.url)
        .unwrap_or_else(|| DEFAULT_URL.to_owned());
    let client = match Client::new(&url, token.or(file.token)) {
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
        Command::Plan { file } => commands::apply::plan(&client, &printer, &file).await,
        Command::Apply(args) => commands::apply::apply(&client, &printer, args).await,
        Command::Approve { id, wait } => {
            commands::apply::act(&client, &printer, &id, "approve", &wait).await
        }
        Command::Resume { id, wait } => {
            commands::apply::act(&client, &printer, &id, "resume", &wait).await
        }
        Command::Diff { source, timeout } => {
            commands::apply::diff(&client, &printer, source, timeout).await
        }
        Command::Changesets(command) => commands::changesets::run(&client, &printer, command).await,
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
