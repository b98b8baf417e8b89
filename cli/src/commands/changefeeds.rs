//! `ferry changefeeds list|get|pause|resume|delete`, through TiEM's API. A
//! pause, resume or delete answers once its task has finished: the server
//! waits for it, as TiEM's callers expect.

use clap::Subcommand;
use serde_json::json;

use super::CliError;
use crate::{
    Exit,
    client::{Changefeed, Client},
    output::Printer,
};

#[derive(Debug, Subcommand)]
pub enum ChangefeedsCommand {
    /// Every changefeed the token sees (up to 100).
    List,
    /// One changefeed.
    Get { id: String },
    /// Stops changing the downstream.
    Pause { id: String },
    /// Starts again from where it stopped.
    Resume { id: String },
    /// Removes the changefeed (its downstream keeps what it has).
    Delete { id: String },
}

const HEADER: [&str; 3] = ["id", "name", "status"];

fn row(feed: &Changefeed) -> Vec<String> {
    vec![
        feed.id.clone(),
        feed.name.clone().unwrap_or_default(),
        feed.status.clone().unwrap_or_default(),
    ]
}

pub async fn run(
    client: &Client,
    printer: &Printer,
    command: ChangefeedsCommand,
) -> Result<Exit, CliError> {
    let (id, op) = match command {
        ChangefeedsCommand::List => {
            let feeds = client.changefeeds().await?;
            printer.show(&feeds, &HEADER, feeds.iter().map(row).collect());
            return Ok(Exit::Done);
        }
        ChangefeedsCommand::Get { id } => {
            let feed = client.changefeed(&id).await?;
            printer.show(&feed, &HEADER, vec![row(&feed)]);
            return Ok(Exit::Done);
        }
        ChangefeedsCommand::Pause { id } => (id, "pause"),
        ChangefeedsCommand::Resume { id } => (id, "resume"),
        ChangefeedsCommand::Delete { id } => (id, "delete"),
    };
    let answer = client.changefeed_operation(&id, op).await?;
    let before = answer["status"].as_str().unwrap_or("unknown");
    printer.line(
        &json!({ "id": id, "operation": op, "statusBefore": answer["status"] }),
        &format!("changefeed {id}: {op} done (it was {before})"),
    );
    Ok(Exit::Done)
}
