//! `ferry plan|apply|approve|resume|diff`: a desired-state document
//! planned against its cluster, reviewed, applied as tasks, approved by a
//! second token when it asks for one, resumed after a failure, and checked
//! for drift (docs/CHANGESETS.md).
//!
//! `apply` asks before it changes anything, as Terraform does, unless
//! `--approve` says the plan was reviewed; where nobody can answer (no
//! terminal) it refuses rather than guess.

use std::{
    io::{BufRead, IsTerminal, Read},
    time::Duration,
};

use clap::Args;

use super::{
    CliError, TASK_HEADER,
    changesets::{changes_table, plan_text, report_settled, wait_settled},
    exit_of, task_row, wait_all,
};
use crate::{
    Exit,
    client::{Change, Changeset, Client, ClientError},
    output::Printer,
};

/// Where the changes come from: a document, or a changeset planned before.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct Source {
    /// A desired-state document: YAML, or JSON when its name ends in
    /// `.json`; `-` reads standard input.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    file: Option<String>,
    /// A changeset planned before, by its id.
    #[arg(long, value_name = "ID")]
    changeset: Option<String>,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    source: Source,
    /// Applies without asking: the plan was reviewed (Terraform's
    /// -auto-approve). Needed where standard input is not a terminal.
    #[arg(long)]
    approve: bool,
    #[command(flatten)]
    wait: WaitArgs,
}

#[derive(Debug, Args)]
pub struct WaitArgs {
    /// Waits until the changeset is applied, failed or stale (exit 0, 1, 1).
    #[arg(long)]
    pub wait: bool,
    /// Seconds `--wait` waits in all (exit 3 when they run out).
    #[arg(long, default_value_t = 300)]
    pub timeout: u64,
}

impl WaitArgs {
    fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout)
    }
}

/// The document at `file` (standard input for `-`) and its content type.
fn read_document(file: &str) -> Result<(Vec<u8>, &'static str), CliError> {
    let mut bytes = Vec::new();
    let read = if file == "-" {
        std::io::stdin().read_to_end(&mut bytes).map(|_| ())
    } else {
        std::fs::read(file).map(|b| bytes = b)
    };
    read.map_err(|err| CliError::Usage(format!("cannot read {file}: {err}")))?;
    let json = file.to_ascii_lowercase().ends_with(".json");
    Ok((
        bytes,
        if json {
            "application/json"
        } else {
            "application/yaml"
        },
    ))
}

async fn plan_file(client: &Client, file: &str) -> Result<Changeset, CliError> {
    let (document, content_type) = read_document(file)?;
    Ok(client.plan(document, content_type).await?)
}

/// `ferry plan -f FILE`: exit 0 when the plan can be applied, 1 when a
/// change is refused.
pub async fn plan(client: &Client, printer: &Printer, file: &str) -> Result<Exit, CliError> {
    let changeset = plan_file(client, file).await?;
    show_plan(printer, &changeset);
    Ok(if is_refused(&changeset) {
        Exit::Failed
    } else {
        Exit::Done
    })
}

fn is_refused(changeset: &Changeset) -> bool {
    changeset.status == "refused" || changeset.plan.is_refused()
}

/// The plan: the changeset's JSON, or the table and what to do next.
fn show_plan(printer: &Printer, changeset: &Changeset) {
    if printer.is_json() {
        printer.json(changeset);
    } else {
        println!("{}", plan_text(changeset));
    }
}

/// `ferry diff`: exit 4 when the cluster differs from the document (or from
/// what the changeset applied), 0 when it does not, 1 when refused.
pub async fn diff(
    client: &Client,
    printer: &Printer,
    source: Source,
    timeout: u64,
) -> Result<Exit, CliError> {
    let Some(id) = source.changeset else {
        let file = source.file.unwrap_or_default();
        let changeset = plan_file(client, &file).await?;
        show_plan(printer, &changeset);
        return Ok(if is_refused(&changeset) {
            Exit::Failed
        } else if changeset.plan.changes_anything() {
            printer.note(&format!("Drift: the cluster differs from {file}."));
            Exit::Drift
        } else {
            printer.note(&format!("No drift: the cluster matches {file}."));
            Exit::Done
        });
    };
    let task = client.check_drift(&id).await?;
    let timeout = Duration::from_secs(timeout);
    let (tasks, timed_out) =
        wait_all(client, printer, std::slice::from_ref(&task.id), timeout).await?;
    let exit = exit_of(&tasks, timed_out);
    if exit != Exit::Done {
        printer.show(&tasks, &TASK_HEADER, tasks.iter().map(task_row).collect());
        return Ok(exit);
    }
    let changeset = client.changeset(&id).await?;
    let differs: Vec<Change> = changeset
        .drift
        .as_ref()
        .map(|d| {
            d.changes
                .iter()
                .filter(|c| c.does_something())
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    if printer.is_json() {
        printer.json(&changeset.drift);
    } else if !differs.is_empty() {
        println!("{}", changes_table(&differs));
    }
    Ok(if differs.is_empty() {
        printer.note(&format!("No drift: the cluster matches changeset {id}."));
        Exit::Done
    } else {
        printer.note(&format!(
            "Drift: {} resource(s) of changeset {id} differ from what it applied.",
            differs.len()
        ));
        Exit::Drift
    })
}

/// `ferry apply`: plans (or reads the planned changeset), shows the plan,
/// asks, applies, and with `--wait` follows it to the end.
pub async fn apply(client: &Client, printer: &Printer, args: ApplyArgs) -> Result<Exit, CliError> {
    let changeset = match (&args.source.file, &args.source.changeset) {
        (Some(file), _) => plan_file(client, file).await?,
        (None, Some(id)) => client.changeset(id).await?,
        (None, None) => return Err(CliError::Usage("give -f FILE or --changeset ID".into())),
    };
    let id = changeset.id.clone();
    // The plan goes where a person sees it; with --output json, standard
    // output keeps the one document the command ends with.
    if printer.is_json() {
        eprintln!("{}", plan_text(&changeset));
    } else {
        println!("{}", plan_text(&changeset));
    }
    if is_refused(&changeset) {
        finish_json(printer, &changeset);
        return Ok(Exit::Failed);
    }
    if changeset.status != "planned" {
        finish_json(printer, &changeset);
        eprintln!(
            "ferry: changeset {id} is {}: only a planned changeset is applied{}",
            changeset.status,
            match changeset.status.as_str() {
                "awaitingApproval" => format!(" (this one waits for `ferry approve {id}`)"),
                "failed" => format!(" (`ferry resume {id}` goes on with this one)"),
                _ => "; plan again".to_owned(),
            }
        );
        return Ok(Exit::Failed);
    }
    if !changeset.plan.changes_anything() {
        finish_json(printer, &changeset);
        printer.note("Nothing to do: the cluster already matches the document.");
        return Ok(Exit::Done);
    }
    if !args.approve && !confirm(&id)? {
        eprintln!("ferry: apply cancelled; changeset {id} stays planned");
        return Ok(Exit::Failed);
    }
    let applied = match client.changeset_action(&id, "apply").await {
        Ok(applied) => applied,
        Err(ClientError::Refused {
            status: 409,
            message,
            ..
        }) => {
            eprintln!(
                "ferry: changeset {id} was not applied: the cluster changed since it was \
                 planned, plan again ({message})"
            );
            return Ok(Exit::Failed);
        }
        Err(err) => return Err(err.into()),
    };
    follow(client, printer, applied, &args.wait).await
}

fn finish_json(printer: &Printer, changeset: &Changeset) {
    if printer.is_json() {
        printer.json(changeset);
    }
}

/// Asks on the terminal; refuses (exit 2) where there is none.
fn confirm(id: &str) -> Result<bool, CliError> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(CliError::Usage(format!(
            "standard input is not a terminal, so nobody can confirm: pass --approve to apply \
             changeset {id} as planned"
        )));
    }
    eprint!("Apply changeset {id}? Only `yes` applies it: ");
    let mut answer = String::new();
    stdin
        .lock()
        .read_line(&mut answer)
        .map_err(|err| CliError::Usage(format!("cannot read the answer: {err}")))?;
    Ok(answer.trim() == "yes")
}

/// `ferry approve ID` (`action` approve) and `ferry resume ID` (resume).
pub async fn act(
    client: &Client,
    printer: &Printer,
    id: &str,
    action: &str,
    wait: &WaitArgs,
) -> Result<Exit, CliError> {
    let changeset = client.changeset_action(id, action).await?;
    follow(client, printer, changeset, wait).await
}

/// What follows an apply, approval or resume: said, or waited for.
async fn follow(
    client: &Client,
    printer: &Printer,
    changeset: Changeset,
    wait: &WaitArgs,
) -> Result<Exit, CliError> {
    let id = changeset.id.clone();
    let said = match changeset.status.as_str() {
        "awaitingApproval" => format!(
            "Changeset {id} waits for a second token's approval: `ferry approve {id}` with \
             another token."
        ),
        "applying" => format!(
            "Changeset {id} is applying{}.",
            changeset
                .apply_task_id
                .as_deref()
                .map(|t| format!(" (task {t})"))
                .unwrap_or_default()
        ),
        status => format!("Changeset {id} is {status}."),
    };
    if !wait.wait {
        finish_json(printer, &changeset);
        printer.note(&said);
        return Ok(match changeset.status.as_str() {
            "failed" | "stale" | "refused" => Exit::Failed,
            _ => Exit::Done,
        });
    }
    printer.note(&said);
    let (changeset, timed_out) = wait_settled(client, printer, &id, wait.timeout()).await?;
    report_settled(client, printer, &changeset, timed_out, wait.timeout()).await
}
