//! `ferry topics ensure` and `ferry can-write`.
//!
//! `ensure` makes sure topics exist: those missing are created through
//! TubeMQ's addTopicTask (one request, so the server creates them in
//! batches), those present are left as they are. A present topic with fewer
//! partitions or another replication factor than asked is reported, never
//! changed: raising partitions reorders keys and is a decision of its own.
//! A topic is named `NAME[:PARTITIONS[:REPLICATION_FACTOR]]`.

use std::{str::FromStr, time::Duration};

use clap::Subcommand;
use serde::Serialize;

use super::{CliError, exit_of, wait_request};
use crate::{
    Exit,
    client::{Client, Task, TopicRequest},
    output::Printer,
};

#[derive(Debug, Subcommand)]
pub enum TopicsCommand {
    /// Creates the topics that do not exist; exit 0 when all exist (after
    /// `--wait`, when every creation succeeded).
    Ensure {
        /// The Kafka cluster's id.
        #[arg(long)]
        cluster: String,
        /// NAME[:PARTITIONS[:REPLICATION_FACTOR]]; the cluster's defaults
        /// when left out.
        #[arg(required = true)]
        topics: Vec<WantedTopic>,
        /// Waits for the creations to finish.
        #[arg(long)]
        wait: bool,
        /// Seconds `--wait` waits in all.
        #[arg(long, default_value_t = 300)]
        timeout: u64,
        /// The user TubeMQ records with each creation.
        #[arg(long, default_value = "ferry-cli")]
        user: String,
    },
}

/// A topic as the command line names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WantedTopic {
    name: String,
    partitions: Option<i32>,
    replication_factor: Option<i32>,
}

impl FromStr for WantedTopic {
    type Err = String;

    fn from_str(text: &str) -> Result<WantedTopic, String> {
        let mut parts = text.split(':');
        let name = parts.next().unwrap_or_default().to_owned();
        if name.is_empty() {
            return Err(format!("`{text}` names no topic"));
        }
        let number = |part: Option<&str>, what: &str| -> Result<Option<i32>, String> {
            match part {
                None | Some("") => Ok(None),
                Some(n) => match n.parse::<i32>() {
                    Ok(v) if v > 0 => Ok(Some(v)),
                    _ => Err(format!("`{text}`: {what} `{n}` is not a positive number")),
                },
            }
        };
        let partitions = number(parts.next(), "partitions")?;
        let replication_factor = number(parts.next(), "replication factor")?;
        if parts.next().is_some() {
            return Err(format!(
                "`{text}` is not NAME[:PARTITIONS[:REPLICATION_FACTOR]]"
            ));
        }
        Ok(WantedTopic {
            name,
            partitions,
            replication_factor,
        })
    }
}

/// What `ensure` did for one topic.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Ensured {
    topic: String,
    /// exists, created, submitted, failed, cancelled or pending.
    outcome: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    task_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<String>,
}

pub async fn run(
    client: &Client,
    printer: &Printer,
    command: TopicsCommand,
) -> Result<Exit, CliError> {
    let TopicsCommand::Ensure {
        cluster,
        topics,
        wait,
        timeout,
        user,
    } = command;
    let present = client.topics(&cluster).await?;
    let mut report = Vec::new();
    let mut missing = Vec::new();
    for wanted in topics {
        if missing.iter().any(|m: &WantedTopic| m.name == wanted.name)
            || report.iter().any(|r: &Ensured| r.topic == wanted.name)
        {
            continue;
        }
        match present.iter().find(|t| t.topic_name == wanted.name) {
            Some(topic) => {
                let mut notes = Vec::new();
                if let (Some(want), Some(has)) = (wanted.partitions, topic.partitions_count)
                    && i64::from(want) != has
                {
                    notes.push(format!("has {has} partitions, {want} asked; not changed"));
                }
                if let (Some(want), Some(has)) =
                    (wanted.replication_factor, topic.replication_factor)
                    && i64::from(want) != has
                {
                    notes.push(format!(
                        "has replication factor {has}, {want} asked; not changed"
                    ));
                }
                report.push(Ensured {
                    topic: wanted.name,
                    outcome: "exists".into(),
                    task_id: None,
                    note: (!notes.is_empty()).then(|| notes.join("; ")),
                });
            }
            None => missing.push(wanted),
        }
    }
    let mut exit = Exit::Done;
    if !missing.is_empty() {
        let requests: Vec<TopicRequest> = missing
            .iter()
            .map(|w| TopicRequest {
                topic_name: w.name.clone(),
                partition_count: w.partitions,
                replication_factor: w.replication_factor,
            })
            .collect();
        // The call's own request id names its tasks for the wait.
        let request_id = uuid::Uuid::now_v7().to_string();
        let ids = client
            .add_topics(&cluster, &user, &requests, &request_id)
            .await?;
        let mut unsuccessful = if wait {
            let (unsuccessful, timed_out) = wait_request(
                client,
                printer,
                &request_id,
                ids.len() as u64,
                Duration::from_secs(timeout),
            )
            .await?;
            let tasks: Vec<Task> = unsuccessful.values().cloned().collect();
            exit = exit_of(&tasks, timed_out);
            Some(unsuccessful)
        } else {
            None
        };
        for (wanted, id) in missing.into_iter().zip(ids) {
            let (outcome, note) = match unsuccessful.as_mut().map(|u| u.remove(&id)) {
                None => ("submitted".to_owned(), None),
                Some(None) => ("created".to_owned(), None),
                Some(Some(t)) => (t.status, t.last_error),
            };
            report.push(Ensured {
                topic: wanted.name,
                outcome,
                task_id: Some(id),
                note,
            });
        }
    }
    let rows = report
        .iter()
        .map(|r| {
            vec![
                r.topic.clone(),
                r.outcome.clone(),
                r.task_id.clone().unwrap_or_default(),
                r.note.clone().unwrap_or_default(),
            ]
        })
        .collect();
    printer.show(&report, &["topic", "outcome", "task", "note"], rows);
    Ok(exit)
}

/// `ferry can-write CLUSTER TOPIC`: exit 0 when producers can write now.
pub async fn can_write(
    client: &Client,
    printer: &Printer,
    cluster: &str,
    topic: &str,
) -> Result<Exit, CliError> {
    let answer = client.can_write(cluster, topic, "ferry-cli").await?;
    let line = if answer.writable {
        format!("{topic} can be written to")
    } else {
        format!("{topic} cannot be written to: {}", answer.message)
    };
    printer.line(&answer, &line);
    Ok(if answer.writable {
        Exit::Done
    } else {
        Exit::Failed
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_topic_is_named_with_optional_partitions_and_replication() {
        let parsed: WantedTopic = "orders:6:3".parse().unwrap();
        assert_eq!(
            parsed,
            WantedTopic {
                name: "orders".into(),
                partitions: Some(6),
                replication_factor: Some(3)
            }
        );
        let bare: WantedTopic = "orders".parse().unwrap();
        assert_eq!((bare.partitions, bare.replication_factor), (None, None));
        let rf_only: WantedTopic = "orders::3".parse().unwrap();
        assert_eq!(
            (rf_only.partitions, rf_only.replication_factor),
            (None, Some(3))
        );
        for bad in ["", ":3", "orders:0", "orders:x", "orders:1:1:1"] {
            assert!(bad.parse::<WantedTopic>().is_err(), "{bad} was accepted");
        }
    }
}
