//! The durable task queue: retries, attempt limits, worker death, graceful
//! shutdown and exactly-one execution across several workers.

use std::{collections::BTreeMap, time::Duration};

use crate::helpers::*;

both_backends!(
    retryable_failures_are_retried_until_success,
    a_permanent_failure_fails_at_once,
    retries_stop_at_max_attempts,
    a_killed_workers_task_is_rerun_by_another_worker,
    sigterm_lets_running_tasks_finish,
    several_workers_never_run_a_task_twice,
);

/// Heartbeats every second, declared dead after two missed ones: a killed
/// worker's task is handed over within about two seconds.
const FAST_HEARTBEAT: [(&str, &str); 2] = [
    ("FERRY_WORKER__HEARTBEAT_SECONDS", "1"),
    ("FERRY_WORKER__MISSED_HEARTBEATS", "2"),
];

async fn retryable_failures_are_retried_until_success(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = app.ping(json!({ "failTimes": 2 })).await;
    let task = app.wait_finished(&id).await;
    assert_eq!(task["status"], "succeeded", "{task}");
    assert_eq!(task["attempts"], 3, "two failures and one success: {task}");
    assert_eq!(
        task["result"]["attempt"], 3,
        "the result is not the third attempt's: {task}"
    );
    assert_eq!(task["result"]["pong"], true, "{task}");
    assert!(task["finishedAt"].is_string(), "{task}");
}

async fn a_permanent_failure_fails_at_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = app
        .ping(json!({ "failPermanently": "the disk is on fire" }))
        .await;
    let task = app.wait_finished(&id).await;
    assert_eq!(task["status"], "failed", "{task}");
    assert_eq!(
        task["attempts"], 1,
        "a permanent failure was retried: {task}"
    );
    assert_eq!(task["lastError"], "the disk is on fire", "{task}");
    assert!(task["result"].is_null(), "{task}");
}

async fn retries_stop_at_max_attempts(backend: Backend) {
    let app = spawn_app(backend).await;
    let task = app
        .submit(&json!({ "kind": "ping", "payload": { "failTimes": 10 }, "maxAttempts": 3 }))
        .await;
    assert_eq!(task["maxAttempts"], 3, "{task}");
    let id = task_id(&task);
    let task = app.wait_finished(&id).await;
    assert_eq!(task["status"], "failed", "{task}");
    assert_eq!(task["attempts"], 3, "{task}");
    let error = task["lastError"].as_str().unwrap_or_default();
    assert!(
        error.contains("gave up"),
        "lastError does not say it gave up: {task}"
    );

    // A finished task stays finished: no late attempt changes it.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let again = app.task(&id).await;
    assert_eq!(again["attempts"], 3, "{again}");
    assert_eq!(again["status"], "failed", "{again}");
}

async fn a_killed_workers_task_is_rerun_by_another_worker(backend: Backend) {
    let app = spawn_api_only(backend).await;
    let mut worker_a = app.start_worker("worker-a", &FAST_HEARTBEAT);
    let id = app.ping(json!({ "sleepMs": 8000 })).await;
    let running = app
        .wait_task(&id, "running on worker-a", Duration::from_secs(30), |t| {
            t["status"] == "running" && t["worker"] == "worker-a"
        })
        .await;
    assert_eq!(running["attempts"], 1, "{running}");

    // SIGKILL: no drain, no clean-up; the job stays locked by worker-a until
    // its heartbeat expires.
    worker_a.kill();
    let _worker_b = app.start_worker("worker-b", &FAST_HEARTBEAT);

    let task = app
        .wait_task(&id, "finished by worker-b", Duration::from_secs(40), |t| {
            matches!(
                t["status"].as_str(),
                Some("succeeded" | "failed" | "cancelled")
            )
        })
        .await;
    assert_eq!(task["status"], "succeeded", "{task}");
    assert_eq!(task["worker"], "worker-b", "{task}");
    assert_eq!(
        task["attempts"], 2,
        "the killed attempt and the re-run: {task}"
    );
    assert_eq!(task["result"]["attempt"], 2, "{task}");
}

async fn sigterm_lets_running_tasks_finish(backend: Backend) {
    let app = spawn_api_only(backend).await;
    let mut worker = app.start_worker("worker-drain", &[("FERRY_WORKER__DRAIN_SECONDS", "10")]);
    let id = app.ping(json!({ "sleepMs": 3000 })).await;
    app.wait_task(
        &id,
        "running on worker-drain",
        Duration::from_secs(30),
        |t| t["status"] == "running" && t["worker"] == "worker-drain",
    )
    .await;

    worker.terminate();
    let status = worker.wait_exit(Duration::from_secs(30)).await;
    assert_eq!(
        status.code(),
        Some(0),
        "the worker did not exit cleanly after SIGTERM ({status}):\n{}",
        worker.tail()
    );

    // The worker finished the task before it exited; nobody else could have.
    let task = app.task(&id).await;
    assert_eq!(
        task["status"], "succeeded",
        "the drain abandoned the task: {task}"
    );
    assert_eq!(task["attempts"], 1, "{task}");
    assert_eq!(task["worker"], "worker-drain", "{task}");
}

async fn several_workers_never_run_a_task_twice(backend: Backend) {
    let app = spawn_api_only(backend).await;
    let names = ["worker-1", "worker-2", "worker-3"];
    let _workers: Vec<_> = names
        .iter()
        .map(|name| app.start_worker(name, &[]))
        .collect();

    let mut ids = Vec::new();
    for _ in 0..60 {
        ids.push(app.ping(json!({ "sleepMs": 50 })).await);
    }

    let body = eventually(
        "all 60 tasks to finish",
        Duration::from_secs(120),
        || async {
            let body = app.get("/api/v1/tasks?pageSize=500").await.expect(200);
            let mut by_status = BTreeMap::new();
            for task in data(&body) {
                *by_status
                    .entry(task["status"].as_str().unwrap_or("?").to_owned())
                    .or_insert(0) += 1;
            }
            let finished = by_status.get("succeeded").copied().unwrap_or(0)
                + by_status.get("failed").copied().unwrap_or(0)
                + by_status.get("cancelled").copied().unwrap_or(0);
            if finished == 60 {
                Ok(body)
            } else {
                Err(by_status)
            }
        },
    )
    .await;

    let mut per_worker = BTreeMap::new();
    for task in data(&body) {
        assert_eq!(task["status"], "succeeded", "{task}");
        // A second concurrent start would have counted a second attempt.
        assert_eq!(task["attempts"], 1, "a task ran more than once: {task}");
        assert_eq!(task["result"]["attempt"], 1, "{task}");
        let worker = task["worker"].as_str().unwrap_or_default().to_owned();
        assert!(names.contains(&worker.as_str()), "unknown worker: {task}");
        *per_worker.entry(worker).or_insert(0) += 1;
    }
    assert_eq!(data(&body).len(), ids.len());
    eprintln!("tasks per worker: {per_worker:?}");
}

/// On PostgreSQL ferry writes the apalis job row itself, in the statement
/// that records the task: the row must be what apalis's own push writes
/// (a ULID id, the queue name, `Pending`, the task id as idempotency key),
/// and a worker started afterwards must fetch and run it.
#[tokio::test]
async fn submit_is_one_statement_that_apalis_runs() {
    let app = spawn_api_only(Backend::Postgres).await;
    let id = app.ping(json!({})).await;
    let rows = app
        .db
        .query_strings(&format!(
            "SELECT concat_ws('|', id, job_type, status, attempts, idempotency_key, \
             convert_from(job, 'UTF8')) FROM apalis.jobs WHERE idempotency_key = '{id}'"
        ))
        .await;
    assert_eq!(rows.len(), 1, "one job for the task: {rows:?}");
    let row = rows[0].clone().unwrap_or_default();
    let fields: Vec<&str> = row.splitn(6, '|').collect();
    assert_eq!(fields[0].len(), 26, "a ULID id: {row}");
    assert_eq!(
        &fields[1..5],
        ["ferry-tasks", "Pending", "0", id.as_str()],
        "{row}"
    );
    let job: Value = serde_json::from_str(fields[5]).expect("the job is JSON");
    assert_eq!(job["task_id"], id.as_str(), "{row}");

    let _worker = app.start_worker("worker-after", &[]);
    let task = app.wait_finished(&id).await;
    assert_eq!(task["status"], "succeeded", "{task}");
    assert_eq!(task["worker"], "worker-after", "{task}");
}

/// Invariant I23: no index of `tasks` names a column that a claim or an
/// outcome writes, so that PostgreSQL writes both as heap-only updates
/// (migration 18). An index on any of them would add an entry to every
/// index at every claim and every outcome, and cost the drain a third.
#[tokio::test]
async fn no_task_index_names_a_column_a_run_writes() {
    let app = spawn_api_only(Backend::Postgres).await;
    let definitions = app
        .db
        .query_strings("SELECT indexdef FROM pg_indexes WHERE tablename = 'tasks'")
        .await;
    assert!(definitions.len() >= 4, "the task indexes: {definitions:?}");
    const WRITTEN_BY_A_RUN: [&str; 9] = [
        "status",
        "attempts",
        "worker",
        "started_at",
        "finished_at",
        "updated_at",
        "result",
        "last_error",
        "failure",
    ];
    for definition in definitions.into_iter().flatten() {
        let words: Vec<&str> = definition
            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .collect();
        for column in WRITTEN_BY_A_RUN {
            assert!(
                !words.contains(&column),
                "{definition} names `{column}`, which a claim or an outcome writes"
            );
        }
    }
}

/// Polling every 30 s (heartbeats too, which also wake apalis's fetch): a
/// task still starts at once, because queueing wakes the worker of the
/// submitting process.
const SLOW_POLL: [(&str, &str); 2] = [
    ("FERRY_WORKER__POLL_MS", "30000"),
    ("FERRY_WORKER__HEARTBEAT_SECONDS", "30"),
];

/// How long a task may take from submission to success when nothing has to
/// wait for the poll interval.
const WOKEN_WITHIN: Duration = Duration::from_secs(4);

async fn submit_and_time(app: &TestApp) -> Duration {
    // Let the worker finish its first fetch and go idle.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let started = std::time::Instant::now();
    let id = app.ping(json!({})).await;
    let task = app.wait_finished(&id).await;
    assert_eq!(task["status"], "succeeded", "{task}");
    started.elapsed()
}

/// `ferry-api --with-worker`: a submission wakes the worker of its own
/// process, on either store.
async fn a_submission_wakes_the_in_process_worker(backend: Backend) {
    let mut options = AppOptions::new(backend);
    for (key, value) in SLOW_POLL {
        options = options.env(key, value);
    }
    let app = TestApp::spawn_with(options).await;
    let took = submit_and_time(&app).await;
    assert!(took < WOKEN_WITHIN, "the task waited {took:?} for the poll");
}

both_backends!(a_submission_wakes_the_in_process_worker);
