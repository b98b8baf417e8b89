//! `changeset.apply` and `changeset.drift`: a changeset's plan carried out as
//! ordinary tasks, phase by phase (`ferry_service::changesets::steps`),
//! and a watched changeset compared with its cluster.
//!
//! An apply first plans again. On its first run every change must still be
//! what the plan says, or the changeset is `stale` and nothing is
//! submitted. A resumed or retried apply skips the changes whose tasks
//! succeeded and those the cluster already shows done; a change whose
//! task is still running is waited for, not submitted again. Each phase's
//! steps are recorded on the changeset as soon as they are submitted.

use std::{collections::HashMap, time::Duration};

use ferry_entity::{
    TaskStatus,
    changeset::{Action, Change, ChangesetStatus, Drift, Model as Changeset, Plan, Step, Steps},
    payload::ChangesetPayload,
};
use ferry_service::{
    changesets::{
        self,
        live::Live,
        steps::{Applier, Phase},
    },
    tasks::{self, Requester, Waited},
};
use serde_json::{Value, json};

use super::{JobContext, JobError};

/// How long one wait for a step's task lasts before it is read again; the
/// attempt's own timeout bounds the whole apply.
const STEP_WAIT: Duration = Duration::from_secs(600);

pub async fn run_apply(ctx: JobContext<'_>) -> Result<Value, JobError> {
    let payload: ChangesetPayload = ctx.task.payload().map_err(JobError::payload)?;
    let model = changesets::get(&ctx.store.db, &payload.changeset_id).await?;
    if model.status != ChangesetStatus::Applying
        || model.apply_task_id.as_deref() != Some(ctx.task.id.as_str())
    {
        return Err(JobError::Permanent(format!(
            "changeset {} is {} and no longer applied by this task",
            model.id, model.status
        )));
    }
    let outcome = apply(&ctx, &model).await;
    let last_attempt = ctx.task.attempts >= ctx.task.max_attempts;
    match &outcome {
        Ok(_) => {}
        Err(Outcome::Stale(_)) => {
            changesets::finish(ctx.store, &model, ChangesetStatus::Stale).await?;
        }
        Err(Outcome::Job(err)) if err.is_retryable() && !last_attempt => {}
        Err(_) => {
            changesets::finish(ctx.store, &model, ChangesetStatus::Failed).await?;
        }
    }
    outcome.map_err(Outcome::into_job_error)
}

/// Marks a changeset whose apply an admin cancelled as failed, so that it
/// can be resumed; the steps already submitted go on as their own tasks.
pub async fn after_cancel(ctx: JobContext<'_>) {
    let Ok(payload) = ctx.task.payload::<ChangesetPayload>() else {
        return;
    };
    if let Ok(model) = changesets::get(&ctx.store.db, &payload.changeset_id).await
        && model.status == ChangesetStatus::Applying
        && let Err(err) = changesets::finish(ctx.store, &model, ChangesetStatus::Failed).await
    {
        tracing::warn!(changeset = %model.id, error = %err.detail(), "marking a cancelled changeset failed");
    }
}

/// Why an apply stopped.
enum Outcome {
    /// The cluster moved since the plan.
    Stale(String),
    Job(JobError),
}

impl Outcome {
    fn into_job_error(self) -> JobError {
        match self {
            Outcome::Stale(message) => JobError::Permanent(message),
            Outcome::Job(err) => err,
        }
    }
}

impl<E: Into<JobError>> From<E> for Outcome {
    fn from(err: E) -> Self {
        Outcome::Job(err.into())
    }
}

async fn apply(ctx: &JobContext<'_>, model: &Changeset) -> Result<Value, Outcome> {
    let (now, live) = changesets::replan(ctx.store, &ctx.resources.kafka, model).await?;
    let mut steps = model.steps.0.clone();
    let resumed = !steps.is_empty() || ctx.task.attempts > 1;
    let statuses = statuses(ctx, &steps).await?;
    let mut todo = Vec::new();
    for (index, planned) in model.plan.actions() {
        if succeeded(&steps, &statuses, index) {
            continue;
        }
        match find(&now, planned) {
            Some(current) if current == planned => todo.push((index, planned)),
            // The cluster already shows the change done (a step that
            // finished after its apply stopped, or a hand fixing it).
            current if resumed && current.is_none_or(|c| c.action == Action::Unchanged) => {}
            current => {
                return Err(Outcome::Stale(format!(
                    "changeset {} is stale: {} `{}` was planned as {} and is now {}; plan again",
                    model.id,
                    planned.resource.as_str(),
                    planned.name,
                    planned.action.as_str(),
                    current.map_or("gone", |c| c.action.as_str())
                )));
            }
        }
    }
    let applier = applier(ctx, model);
    let done = carry_out(
        ctx,
        &applier,
        model,
        &live,
        &todo,
        &mut steps,
        Some(&model.id),
    )
    .await?;
    changesets::finish(ctx.store, model, ChangesetStatus::Applied).await?;
    Ok(json!({
        "changeset": model.id,
        "changes": model.plan.actions().count(),
        "stepsDone": done,
        "steps": steps.len(),
    }))
}

pub async fn run_drift(ctx: JobContext<'_>) -> Result<Value, JobError> {
    let payload: ChangesetPayload = ctx.task.payload().map_err(JobError::payload)?;
    let model = changesets::get(&ctx.store.db, &payload.changeset_id).await?;
    if model.status != ChangesetStatus::Applied {
        return Ok(json!({
            "changeset": model.id,
            "skipped": format!("changeset is {}", model.status),
        }));
    }
    let (plan, live) = changesets::replan(ctx.store, &ctx.resources.kafka, &model).await?;
    let drifted: Vec<(usize, &Change)> = plan.actions().collect();
    let mut reverted = Vec::new();
    let mut revert_error = None;
    if model.revert && !drifted.is_empty() {
        if plan.is_refused() {
            revert_error = Some(format!("not reverted: {}", changesets::refusals(&plan)));
        } else {
            let applier = applier(&ctx, &model);
            let outcome =
                carry_out(&ctx, &applier, &model, &live, &drifted, &mut reverted, None).await;
            if let Err(err) = outcome {
                revert_error = Some(err.into_job_error().to_string());
            }
        }
    }
    let changes: Vec<Change> = drifted.iter().map(|(_, c)| (*c).clone()).collect();
    let drift = Drift {
        checked_at: chrono::Utc::now(),
        changes: changes.clone(),
        reverted_by: reverted.iter().map(|s| s.task_id.clone()).collect(),
    };
    changesets::record_drift(ctx.store, &model.id, drift.clone()).await?;
    if let Some(err) = revert_error {
        return Err(JobError::Permanent(format!(
            "changeset {} drifted ({} changes); {err}",
            model.id,
            changes.len()
        )));
    }
    Ok(json!({
        "changeset": model.id,
        "drift": changes.len(),
        "changes": changes,
        "revertedBy": drift.reverted_by,
    }))
}

fn applier<'a>(ctx: &'a JobContext<'_>, model: &Changeset) -> Applier<'a> {
    Applier {
        store: ctx.store,
        kafka: &ctx.resources.kafka,
        cluster: model.cluster_id,
        who: Requester {
            created_by: ctx.task.created_by.clone(),
            request_id: ctx.task.request_id.clone(),
            project_id: model.project_id.clone(),
        },
    }
}

/// The change of `plan` about the same resource as `change`.
fn find<'p>(plan: &'p Plan, change: &Change) -> Option<&'p Change> {
    plan.changes
        .iter()
        .find(|c| c.resource == change.resource && c.name == change.name)
}

/// Whether every recorded step of change `index` succeeded (and there is
/// at least one).
fn succeeded(steps: &[Step], statuses: &HashMap<String, TaskStatus>, index: usize) -> bool {
    let mut of_change = steps.iter().filter(|s| s.change == index).peekable();
    of_change.peek().is_some()
        && of_change.all(|s| statuses.get(&s.task_id) == Some(&TaskStatus::Succeeded))
}

/// The status of every step's task, read at once.
async fn statuses(
    ctx: &JobContext<'_>,
    steps: &[Step],
) -> Result<HashMap<String, TaskStatus>, JobError> {
    let ids: Vec<String> = steps.iter().map(|s| s.task_id.clone()).collect();
    Ok(tasks::get_many(&ctx.store.db, &ids)
        .await?
        .into_iter()
        .map(|t| (t.id, t.status))
        .collect())
}

/// Submits and waits for `todo`'s changes phase by phase; a change whose
/// recorded task is still in progress is waited for rather than submitted
/// again, and a failed step's change is submitted again. With `record`,
/// the steps are written on that changeset after each submission. Returns
/// how many steps succeeded.
async fn carry_out(
    ctx: &JobContext<'_>,
    applier: &Applier<'_>,
    model: &Changeset,
    live: &Live,
    todo: &[(usize, &Change)],
    steps: &mut Vec<Step>,
    record: Option<&str>,
) -> Result<usize, Outcome> {
    let mut done = 0;
    for phase in Phase::ALL {
        let in_phase: Vec<(usize, &Change)> = todo
            .iter()
            .filter(|(_, c)| Phase::of(c) == Some(phase))
            .map(|(i, c)| (*i, *c))
            .collect();
        if in_phase.is_empty() {
            continue;
        }
        let statuses = statuses(ctx, steps).await?;
        let mut submit = Vec::new();
        for (index, change) in &in_phase {
            let running = steps.iter().filter(|s| s.change == *index).any(|s| {
                statuses
                    .get(&s.task_id)
                    .is_some_and(|status| !status.is_terminal())
            });
            if !running {
                // A failed step's change is submitted again as a whole.
                steps.retain(|s| s.change != *index);
                submit.push((*index, *change));
            }
        }
        if !submit.is_empty() {
            let new = applier.submit(&model.document, live, &submit).await?;
            steps.extend(new);
            if let Some(id) = record {
                changesets::record_steps(ctx.store, id, &Steps(steps.clone())).await?;
            }
        }
        let waited: Vec<Step> = steps
            .iter()
            .filter(|s| in_phase.iter().any(|(i, _)| *i == s.change))
            .cloned()
            .collect();
        for step in &waited {
            let task = wait_for(ctx, &step.task_id).await?;
            if task.status != TaskStatus::Succeeded {
                // The change carried out, of the apply's plan or of a drift
                // check's fresh one (whose indexes are its own).
                let change = in_phase
                    .iter()
                    .find(|(i, _)| *i == step.change)
                    .map(|(_, c)| *c);
                return Err(Outcome::Job(JobError::Permanent(format!(
                    "{} `{}`: task {} ({}) {}: {}",
                    change.map_or("change", |c| c.resource.as_str()),
                    change.map_or("", |c| c.name.as_str()),
                    task.id,
                    task.kind.as_str(),
                    task.status.as_str(),
                    task.last_error.as_deref().unwrap_or("no error recorded")
                ))));
            }
            done += 1;
        }
        let _ = tasks::report_progress(
            &ctx.store.db,
            &ctx.task.id,
            &json!({"phase": format!("{phase:?}"), "stepsDone": done, "steps": steps.len()}),
        )
        .await;
    }
    Ok(done)
}

async fn wait_for(ctx: &JobContext<'_>, id: &str) -> Result<tasks::Task, JobError> {
    let mut task = tasks::get(&ctx.store.db, id)
        .await?
        .ok_or_else(|| JobError::Permanent(format!("step task {id} vanished")))?;
    loop {
        match tasks::wait(ctx.store, task, STEP_WAIT).await? {
            Waited::Finished(t) => return Ok(t),
            Waited::Running(t) => task = t,
        }
    }
}
