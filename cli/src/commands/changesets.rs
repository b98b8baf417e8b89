//! `ferry changesets list|get`, and what the changeset commands share: a
//! plan drawn as a table, and the wait for an applied changeset to settle
//! (docs/CHANGESETS.md).

use std::time::{Duration, Instant};

use clap::Subcommand;
use serde_json::Value;

use super::CliError;
use crate::{
    Exit,
    client::{Change, ChangeSummary, Changeset, ChangesetFilter, Client, Plan},
    output::{Printer, table},
};

#[derive(Debug, Subcommand)]
pub enum ChangesetsCommand {
    /// Changesets, newest first.
    List {
        /// A cluster's id.
        #[arg(long)]
        cluster: Option<String>,
        /// What the documents manage (their `name`).
        #[arg(long)]
        name: Option<String>,
        /// planned, refused, awaitingApproval, applying, applied, failed,
        /// stale or superseded.
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 1)]
        page: u64,
        #[arg(long, default_value_t = 20)]
        page_size: u64,
    },
    /// One changeset: its plan, its steps and its last drift check.
    Get { id: String },
}

/// How often a wait asks for the changeset.
const POLL: Duration = Duration::from_millis(500);

pub async fn run(
    client: &Client,
    printer: &Printer,
    command: ChangesetsCommand,
) -> Result<Exit, CliError> {
    match command {
        ChangesetsCommand::List {
            cluster,
            name,
            status,
            page,
            page_size,
        } => {
            let filter = ChangesetFilter {
                cluster,
                name,
                status,
                page,
                page_size,
            };
            let page = client.changesets(&filter).await?;
            let rows = page.changesets().iter().map(list_row).collect();
            printer.show(
                &page,
                &[
                    "id", "name", "cluster", "status", "changes", "drift", "created",
                ],
                rows,
            );
            if !printer.is_json() {
                println!("{} of {} changesets", page.changesets().len(), page.total);
            }
            Ok(Exit::Done)
        }
        ChangesetsCommand::Get { id } => {
            let changeset = client.changeset(&id).await?;
            if printer.is_json() {
                printer.json(&changeset);
                return Ok(Exit::Done);
            }
            println!("{}", plan_text(&changeset));
            if !changeset.steps.is_empty() {
                println!("{}", steps_text(&changeset));
            }
            if let Some(drift) = &changeset.drift {
                let differs: Vec<Change> = drift
                    .changes
                    .iter()
                    .filter(|c| c.does_something())
                    .cloned()
                    .collect();
                let at = drift.checked_at.as_deref().unwrap_or("an unknown time");
                println!("Drift checked at {at}: {}", drift_summary(&differs));
                if !differs.is_empty() {
                    println!("{}", changes_table(&differs));
                }
            }
            Ok(Exit::Done)
        }
    }
}

fn list_row(changeset: &Changeset) -> Vec<String> {
    let counts = changeset.plan.counts();
    let drift = match (&changeset.drift, changeset.watch) {
        (Some(drift), _) => {
            let n = drift.changes.iter().filter(|c| c.does_something()).count();
            if n == 0 {
                "none".to_owned()
            } else {
                format!("DRIFT: {n}")
            }
        }
        (None, Some(true)) => "not checked yet".to_owned(),
        (None, _) => String::new(),
    };
    vec![
        changeset.id.clone(),
        changeset.name.clone().unwrap_or_default(),
        changeset.cluster(),
        changeset.status.clone(),
        format!("+{} ~{} -{}", counts.create, counts.update, counts.delete),
        drift,
        changeset.created_at.clone().unwrap_or_default(),
    ]
}

/// A plan's changes, one row each: what changes, and what cannot.
pub fn changes_table(changes: &[Change]) -> comfy_table::Table {
    let rows = changes
        .iter()
        .map(|c| {
            let fields = c
                .fields
                .iter()
                .map(|f| {
                    let old = value_text(f.old.as_ref(), &f.field);
                    let new = value_text(f.new.as_ref(), &f.field);
                    format!("{}: {old} -> {new}", f.field)
                })
                .collect::<Vec<_>>()
                .join("\n");
            let notes = c
                .refused
                .iter()
                .map(|r| format!("REFUSED: {r}"))
                .chain(c.warnings.iter().map(|w| format!("warning: {w}")))
                .collect::<Vec<_>>()
                .join("\n");
            vec![
                c.resource.clone(),
                c.name.clone(),
                c.action.clone(),
                fields,
                notes,
            ]
        })
        .collect();
    table(
        &[
            "resource",
            "name",
            "action",
            "fields (old -> new)",
            "refused / warnings",
        ],
        rows,
    )
}

/// A field's value as text: `null` is the broker's default for a config,
/// absent for anything else.
fn value_text(value: Option<&Value>, field: &str) -> String {
    match value {
        None | Some(Value::Null) if field.starts_with("configs.") => "(default)".to_owned(),
        None | Some(Value::Null) => "(none)".to_owned(),
        Some(Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
    }
}

/// `2 to create, 1 to update, 0 to delete, 4 unchanged`, and the refusals.
pub fn summary_text(counts: &ChangeSummary) -> String {
    let mut text = format!(
        "{} to create, {} to update, {} to delete, {} unchanged",
        counts.create, counts.update, counts.delete, counts.unchanged
    );
    if counts.refused > 0 {
        text.push_str(&format!(", {} refused", counts.refused));
    }
    text
}

fn drift_summary(differs: &[Change]) -> String {
    match differs.len() {
        0 => "no drift: the cluster matches the applied document".to_owned(),
        1 => "1 resource drifted".to_owned(),
        n => format!("{n} resources drifted"),
    }
}

/// The plan as a person reads it: the table of changes, the counts, and
/// what can be done with it.
pub fn plan_text(changeset: &Changeset) -> String {
    let plan: &Plan = &changeset.plan;
    let mut out = String::new();
    if !plan.changes.is_empty() {
        out.push_str(&format!("{}\n", changes_table(&plan.changes)));
    }
    out.push_str(&format!("Plan: {}.\n", summary_text(&plan.counts())));
    let what = match (changeset.name.as_deref(), changeset.cluster()) {
        (Some(name), cluster) if !cluster.is_empty() => format!(" ({name} on cluster {cluster})"),
        (Some(name), _) => format!(" ({name})"),
        (None, _) => String::new(),
    };
    out.push_str(&format!(
        "Changeset {}{what} is {}",
        changeset.id, changeset.status
    ));
    match changeset.status.as_str() {
        "planned" if plan.changes_anything() => out.push_str(&format!(
            ": apply it with `ferry apply --changeset {}`.",
            changeset.id
        )),
        "refused" => out.push_str(": a change above cannot be applied; change the document."),
        _ => out.push('.'),
    }
    out
}

/// The steps of an apply: each task, its status and its error.
pub fn steps_text(changeset: &Changeset) -> comfy_table::Table {
    let rows = changeset
        .steps
        .iter()
        .map(|s| {
            let change = s
                .change
                .and_then(|i| changeset.plan.changes.get(i))
                .map(|c| format!("{} {} {}", c.action, c.resource, c.name))
                .unwrap_or_default();
            vec![
                change,
                s.kind.clone().unwrap_or_default(),
                s.task_id.clone().unwrap_or_default(),
                s.status().to_owned(),
                s.error().unwrap_or_default().to_owned(),
            ]
        })
        .collect();
    table(&["change", "kind", "task", "status", "error"], rows)
}

/// Asks for the changeset every half second until nothing more happens to
/// it without someone acting, or `timeout` passes; shows its steps done out
/// of all. Answers it as last seen and whether the wait ran out first.
pub async fn wait_settled(
    client: &Client,
    printer: &Printer,
    id: &str,
    timeout: Duration,
) -> Result<(Changeset, bool), CliError> {
    let deadline = Instant::now() + timeout;
    let mut changeset = client.changeset(id).await?;
    let planned = changeset.plan.changes.iter().filter(|c| c.does_something());
    let mut total = planned.count().max(changeset.steps.len()) as u64;
    let mut progress = printer.progress(total, &format!("changeset {id}: steps"));
    let mut status = String::new();
    loop {
        if changeset.steps.len() as u64 > total {
            total = changeset.steps.len() as u64;
            progress.set_total(total);
        }
        let done = changeset.steps.iter().filter(|s| s.is_final()).count() as u64;
        let note = if changeset.status == status {
            String::new()
        } else {
            status.clone_from(&changeset.status);
            changeset.status.clone()
        };
        progress.set(done, &note);
        if changeset.is_settled() || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(POLL.min(deadline.saturating_duration_since(Instant::now()))).await;
        changeset = client.changeset(id).await?;
    }
    progress.finish();
    let timed_out = !changeset.is_settled();
    Ok((changeset, timed_out))
}

/// Reports a changeset a wait ended on and answers the exit code: done
/// when applied, failed when it failed or went stale (with each failed
/// step's task and error), timed out when it was still going.
pub async fn report_settled(
    client: &Client,
    printer: &Printer,
    changeset: &Changeset,
    timed_out: bool,
    timeout: Duration,
) -> Result<Exit, CliError> {
    let id = &changeset.id;
    if printer.is_json() {
        printer.json(changeset);
    } else if !changeset.steps.is_empty() {
        println!("{}", steps_text(changeset));
    }
    if timed_out {
        let state = if changeset.status == "awaitingApproval" {
            format!("still waits for a second token's approval (`ferry approve {id}`)")
        } else {
            format!("is still {}; it goes on", changeset.status)
        };
        printer.note(&format!(
            "Changeset {id} {state} after {}s (`ferry changesets get {id}`).",
            timeout.as_secs()
        ));
        return Ok(Exit::TimedOut);
    }
    match changeset.status.as_str() {
        "applied" | "superseded" => {
            printer.note(&format!("Changeset {id} is {}.", changeset.status));
            Ok(Exit::Done)
        }
        "failed" => {
            for step in changeset
                .steps
                .iter()
                .filter(|s| s.is_final() && s.status() != "succeeded")
            {
                let task = step.task_id.as_deref().unwrap_or("?");
                let error = match step.error() {
                    Some(error) => error.to_owned(),
                    None => match client.task(task, Duration::ZERO).await {
                        Ok(task) => task.last_error.unwrap_or_default(),
                        Err(err) => format!("(the task cannot be read: {err})"),
                    },
                };
                let kind = step.kind.as_deref().unwrap_or("step");
                eprintln!("ferry: {kind} task {task} {}: {error}", step.status());
            }
            eprintln!(
                "ferry: changeset {id} failed; once the cause is fixed, `ferry resume {id}` \
                 goes on from where it stopped"
            );
            Ok(Exit::Failed)
        }
        "stale" => {
            eprintln!(
                "ferry: changeset {id} is stale: the cluster changed since it was planned; \
                 plan again"
            );
            Ok(Exit::Failed)
        }
        other => {
            eprintln!("ferry: changeset {id} is {other}, not applied");
            Ok(Exit::Failed)
        }
    }
}
