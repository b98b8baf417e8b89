//! The margin a TiEM pause or resume adds to its own work when the API and
//! the worker are separate processes on PostgreSQL (issue #19): the call
//! waits for a task that another process runs, so its answer comes after the
//! worker's pickup, the work, and the news of the finish reaching the API.
//! The margin is the call's duration less the work (the task's
//! `startedAt` to `finishedAt`, as the worker recorded them).

use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};
use ferry_tests::{AppOptions, Backend, LaunchOptions, TestApp, mariadb::MariaDb};

use serde_json::Value;

use crate::stats::{self, Latencies};

/// Issue #19's goal for a waiting call's margin over its work.
const GOAL_P50: Duration = Duration::from_millis(10);
const GOAL_P99: Duration = Duration::from_millis(50);

/// Starts `ferry-api` without a worker and one `ferry-worker` on a scratch
/// PostgreSQL database, creates a changefeed from `upstream` into
/// `downstream_body`, pauses and resumes it `cycles` times and prints the
/// margins beside the goal.
pub(crate) async fn measure(
    launch: LaunchOptions,
    upstream: &MariaDb,
    downstream_body: Value,
    cycles: usize,
) -> anyhow::Result<()> {
    let mut options = AppOptions::new(Backend::Postgres);
    options.with_worker = false;
    options.launch = launch;
    let app = TestApp::try_spawn_with(options)
        .await
        .map_err(anyhow::Error::msg)?;
    let _worker = crate::ferry::start_worker(&app)?;
    let http = reqwest::Client::builder().no_proxy().build()?;
    let (base, token) = (app.address.clone(), app.admin_token.clone());
    let id =
        super::create_changefeed(&http, &base, &token, upstream.port(), downstream_body).await?;

    let mut margins = Vec::with_capacity(cycles * 2);
    let mut calls = Vec::with_capacity(cycles * 2);
    let mut parts = [(); 3].map(|()| Vec::with_capacity(cycles * 2));
    for _ in 0..cycles {
        for (op, kind) in [
            ("pause", "changefeed.pause"),
            ("resume", "changefeed.resume"),
        ] {
            let (called, called_at) = (Instant::now(), Utc::now());
            super::operate(&http, &base, &token, &id, op).await?;
            let (call, answered_at) = (called.elapsed(), Utc::now());
            let task = last_task(&http, &base, &token, kind).await?;
            calls.push(call);
            margins.push(call.saturating_sub(task.work()));
            // Where the margin goes, on this host's one clock: the call
            // until the task row's creation, its wait for a worker, and
            // its finish until the answer.
            parts[0].push(between(called_at, task.created_at));
            parts[1].push(between(task.created_at, task.started_at));
            parts[2].push(between(task.finished_at, answered_at));
        }
    }
    let margins = Latencies::new(margins);
    let calls = Latencies::new(calls);
    let [accepted, picked_up, answered] = parts.map(Latencies::new);
    println!(
        "  pause/resume margin, in parts: call to task row {} | row to worker start {} | finish to answer {}",
        accepted.summary(),
        picked_up.summary(),
        answered.summary()
    );
    let met = margins.percentile(50.0) <= GOAL_P50 && margins.percentile(99.0) <= GOAL_P99;
    println!(
        "  pause/resume, API and worker in separate processes on PostgreSQL: call {} | margin over the task's own work {} (goal p50 <= {}, p99 <= {}) {}",
        calls.summary(),
        margins.summary(),
        stats::ms(GOAL_P50),
        stats::ms(GOAL_P99),
        if met { "MET" } else { "MISSED" }
    );
    Ok(())
}

/// The newest task of a kind, as its worker recorded it.
struct TaskTimes {
    created_at: DateTime<Utc>,
    started_at: DateTime<Utc>,
    finished_at: DateTime<Utc>,
}

impl TaskTimes {
    /// The task's own work: from its start to its finish.
    fn work(&self) -> Duration {
        between(self.started_at, self.finished_at)
    }
}

fn between(from: DateTime<Utc>, to: DateTime<Utc>) -> Duration {
    (to - from).to_std().unwrap_or_default()
}

/// The newest task of `kind`.
async fn last_task(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    kind: &str,
) -> anyhow::Result<TaskTimes> {
    let page: Value = http
        .get(format!("{base}/api/v1/tasks"))
        .query(&[("kind", kind), ("pageSize", "1")])
        .bearer_auth(token)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let task = page["data"]
        .get(0)
        .with_context(|| format!("no {kind} task in {page}"))?;
    let at = |field: &str| -> anyhow::Result<DateTime<Utc>> {
        let text = task[field]
            .as_str()
            .with_context(|| format!("the task has no {field}: {task}"))?;
        Ok(text.parse()?)
    };
    Ok(TaskTimes {
        created_at: at("createdAt")?,
        started_at: at("startedAt")?,
        finished_at: at("finishedAt")?,
    })
}
