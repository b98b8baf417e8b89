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
    a_drain_cut_short_hands_its_tasks_over_at_once,
    a_retry_waits_in_the_queue_for_its_backoff,
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

/// Heartbeats every 30 s and a lost worker only after 90: whatever hands
/// a task over sooner than that is the stopping worker itself.
const SLOW_HEARTBEAT: [(&str, &str); 2] = [
    ("FERRY_WORKER__HEARTBEAT_SECONDS", "30"),
    ("FERRY_WORKER__MISSED_HEARTBEATS", "3"),
];

/// A worker whose drain time ends before its task does puts the task back
/// into the queue as it leaves, so another worker runs it at once instead
/// of after the stopped worker's heartbeat allowance.
async fn a_drain_cut_short_hands_its_tasks_over_at_once(backend: Backend) {
    let app = spawn_api_only(backend).await;
    let mut env = SLOW_HEARTBEAT.to_vec();
    env.push(("FERRY_WORKER__DRAIN_SECONDS", "1"));
    let mut worker_a = app.start_worker("worker-a", &env);
    let id = app.ping(json!({ "sleepMs": 20000 })).await;
    app.wait_task(&id, "running on worker-a", Duration::from_secs(30), |t| {
        t["status"] == "running" && t["worker"] == "worker-a"
    })
    .await;
    worker_a.terminate();
    let status = worker_a.wait_exit(Duration::from_secs(30)).await;
    assert_eq!(status.code(), Some(0), "{}", worker_a.tail());
    let task = app.task(&id).await;
    assert_eq!(task["status"], "pending", "handed back on leaving: {task}");

    let started = std::time::Instant::now();
    let _worker_b = app.start_worker("worker-b", &SLOW_HEARTBEAT);
    let task = app
        .wait_task(&id, "running on worker-b", Duration::from_secs(30), |t| {
            t["worker"] == "worker-b"
        })
        .await;
    assert_eq!(task["attempts"], 2, "the cut attempt and the next: {task}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "worker-b took {:?} to start the task",
        started.elapsed()
    );
}

/// A retryable failure sends the task back to the queue, due after its
/// backoff (here at least 2.4 s: 3 s less the 20% jitter): the task waits
/// there, pending, with no attempt started early, then succeeds.
async fn a_retry_waits_in_the_queue_for_its_backoff(backend: Backend) {
    let app = TestApp::spawn_with(
        AppOptions::new(backend).env("FERRY_WORKER__BACKOFF_INITIAL_MS", "3000"),
    )
    .await;
    let id = app.ping(json!({ "failTimes": 1 })).await;
    let failed_once = app
        .wait_task(
            &id,
            "the first attempt failed",
            Duration::from_secs(30),
            |t| t["status"] == "pending" && t["attempts"] == 1,
        )
        .await;
    assert!(failed_once["lastError"].is_string(), "{failed_once}");
    let due = app
        .db
        .query_strings(&format!(
            "SELECT job_key FROM task_queue WHERE job_key = '{id}'"
        ))
        .await;
    assert_eq!(due.len(), 1, "the retry is queued: {due:?}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let waiting = app.task(&id).await;
    assert_eq!(
        waiting["attempts"], 1,
        "retried before its backoff: {waiting}"
    );
    let task = app.wait_finished(&id).await;
    assert_eq!(task["status"], "succeeded", "{task}");
    assert_eq!(task["attempts"], 2, "{task}");
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

/// On PostgreSQL a submission records the task and queues it in one
/// statement: the queue row is there, due at the task's creation, before
/// any worker runs, and a worker started afterwards claims it, runs it and
/// leaves the queue empty.
#[tokio::test]
async fn submit_queues_the_task_in_the_same_statement() {
    let app = spawn_api_only(Backend::Postgres).await;
    let id = app.ping(json!({})).await;
    let rows = app
        .db
        .query_strings(&format!(
            "SELECT (q.run_at = t.created_at)::text FROM task_queue q \
             JOIN tasks t ON t.job_key = q.job_key WHERE t.id = '{id}'"
        ))
        .await;
    assert_eq!(
        rows,
        vec![Some("true".to_owned())],
        "one queue row, due at once"
    );

    let _worker = app.start_worker("worker-after", &[]);
    let task = app.wait_finished(&id).await;
    assert_eq!(task["status"], "succeeded", "{task}");
    assert_eq!(task["worker"], "worker-after", "{task}");
    let left = app
        .db
        .query_strings(&format!(
            "SELECT job_key FROM task_queue WHERE job_key = '{id}'"
        ))
        .await;
    assert!(
        left.is_empty(),
        "the claimed task is still queued: {left:?}"
    );
}

/// Polling every 30 s and heartbeats every 30 s: a
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
