//! The durable task queue: retries, attempt limits, worker death, graceful
//! shutdown and exactly-one execution across several workers.

use std::{collections::BTreeMap, time::Duration};

use ferry_tests::postgres::ScratchPostgres;

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

/// Migration 20: `tasks` pages keep half their room, so that both new
/// versions a run writes of each task row (its claim's and its outcome's)
/// stay on the row's page as heap-only updates. Three bulk lists' worth of
/// pings (keys of 100, so a claim and an outcome of up to 300 rows at a
/// time) must be written at least 90% heap-only; with migration 13's 30%
/// free, about two thirds were, and each of the rest added an entry to
/// every index of `tasks`.
///
/// The test has a PostgreSQL server of its own. An outcome finds room on
/// its rows' pages only once the page is pruned of the versions the claim
/// replaced, and PostgreSQL prunes them only when no transaction that
/// began before the claim committed is still running anywhere on the
/// server. On the server the suite shares, another test's transaction
/// nearly always is, and then every outcome leaves its page (CI once saw
/// exactly 300 of 600 heap-only).
#[tokio::test]
async fn a_runs_updates_stay_on_their_page() {
    let pg = ScratchPostgres::start().await;
    let mut options = AppOptions::new(Backend::Postgres).without_worker();
    options.store.postgres_admin_url = pg.admin_url();
    let app = TestApp::spawn_with(options).await;
    let options = app
        .db
        .query_strings(
            "SELECT array_to_string(reloptions, ',') FROM pg_class WHERE relname = 'tasks'",
        )
        .await;
    assert_eq!(options, vec![Some("fillfactor=50".to_owned())]);
    let list: Vec<Value> = (0..300)
        .map(|i| json!({ "kind": "ping", "subject": format!("page-{i}") }))
        .collect();
    let accepted = app.post("/api/v1/tasks", &json!(list)).await.expect(202);
    let accepted = accepted.as_array().expect("a list answers a list").clone();
    let _worker = app.start_worker("pages", &[]);
    for task in &accepted {
        let done = app.wait_finished(&task_id(task)).await;
        assert_eq!(done["status"], "succeeded", "{done}");
    }
    // Each backend reports its counts to the statistics within about a
    // second of going idle.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let (updates, heap_only) = loop {
        let counts = app
            .db
            .query_strings(
                "SELECT n_tup_upd || ',' || n_tup_hot_upd FROM pg_stat_user_tables \
                 WHERE relname = 'tasks'",
            )
            .await;
        let counts = counts.first().cloned().flatten().unwrap_or_default();
        let (updates, heap_only) = counts.split_once(',').unwrap_or(("0", "0"));
        let (updates, heap_only): (u64, u64) =
            (updates.parse().unwrap_or(0), heap_only.parse().unwrap_or(0));
        if updates >= 600 || std::time::Instant::now() > deadline {
            break (updates, heap_only);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert!(
        updates >= 600,
        "a claim and an outcome per task: {updates} updates"
    );
    assert!(
        heap_only * 10 >= updates * 9,
        "{heap_only} of {updates} updates of task rows were heap-only"
    );
}

/// A success reaches the other processes only when someone waits on it
/// (migration 21): a worker draining tasks nobody waits on, one per call
/// and as a list, sends not one of their ids, a failure is still
/// announced, and a caller waiting in another process (the API's long
/// poll, with the worker in its own process) hears of its task's success.
#[tokio::test]
async fn only_awaited_successes_are_announced() {
    let app = spawn_api_only(Backend::Postgres).await;
    let mut listener = sqlx::postgres::PgListener::connect(app.db.url())
        .await
        .expect("a listening connection");
    listener
        .listen("ferry_tasks_finished")
        .await
        .expect("LISTEN ferry_tasks_finished");

    let mut quiet = Vec::new();
    for _ in 0..20 {
        quiet.push(app.ping(json!({})).await);
    }
    let list: Vec<Value> = (0..50)
        .map(|i| json!({ "kind": "ping", "subject": format!("quiet-{i}") }))
        .collect();
    let listed = app.post("/api/v1/tasks", &json!(list)).await.expect(202);
    quiet.extend(
        listed
            .as_array()
            .expect("a list answers a list")
            .iter()
            .map(task_id),
    );
    let failed = app.ping(json!({ "failPermanently": "on purpose" })).await;
    let _worker = app.start_worker("announcer", &[]);
    for id in &quiet {
        let task = app.wait_finished(id).await;
        assert_eq!(task["status"], "succeeded", "{task}");
    }
    assert_eq!(app.wait_finished(&failed).await["status"], "failed");

    let id = app.ping(json!({ "sleepMs": 300 })).await;
    let task = app
        .get(&format!("/api/v1/tasks/{id}?waitMs=20000"))
        .await
        .expect(200);
    assert_eq!(task["status"], "succeeded", "{task}");

    // The worker announces after each commit; the last of them is the
    // awaited task's, well within a second of the long poll's answer.
    let mut announced: Vec<String> = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while let Ok(Ok(Some(notification))) =
        tokio::time::timeout_at(deadline, listener.try_recv()).await
    {
        announced.extend(notification.payload().split(',').map(str::to_owned));
    }
    let told: Vec<&String> = quiet.iter().filter(|id| announced.contains(id)).collect();
    assert!(
        told.is_empty(),
        "successes nobody waited on were announced: {told:?}"
    );
    assert!(
        announced.contains(&failed),
        "the failure was not announced: {announced:?}"
    );
    assert!(
        announced.contains(&id),
        "the awaited success was not announced: {announced:?}"
    );
}

/// A worker claims and writes outcomes through its own two connections
/// (`Store::queue_db`), never through the rest of its pool: after a drain
/// of many small pages, with the worker's main pool allowed ten
/// connections, at most two backends show a claim or an outcome group as
/// the last statement they ran. Through the main pool, which hands out its
/// idle connections in turn, those statements ended on most of its open
/// connections.
#[tokio::test]
async fn claims_and_outcomes_use_two_connections() {
    use sqlx::Connection;

    let app = spawn_api_only(Backend::Postgres).await;
    let mut ids = Vec::new();
    for _ in 0..300 {
        ids.push(app.ping(json!({})).await);
    }
    let _worker = app.start_worker(
        "two-connections",
        &[
            ("FERRY_DATABASE_MAX_CONNECTIONS", "10"),
            ("FERRY_WORKER__CONCURRENCY", "4"),
        ],
    );
    for id in &ids {
        assert_eq!(app.wait_finished(id).await["status"], "succeeded");
    }
    let mut db = sqlx::PgConnection::connect(app.db.url())
        .await
        .expect("a connection to the test database");
    let (claims_or_outcomes, backends): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE query LIKE 'WITH due AS (DELETE FROM task_queue%' \
           OR query LIKE 'WITH finished AS (UPDATE tasks%'), count(*) \
         FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .fetch_one(&mut db)
    .await
    .expect("pg_stat_activity");
    assert!(
        (1..=2).contains(&claims_or_outcomes),
        "{claims_or_outcomes} of {backends} backends last ran a claim or an outcome group"
    );
}

/// A drain of short tasks claims pages ahead that grow past the worker's
/// concurrency, up to eight times it (`fetch::Pages::ahead`): 300 queued
/// pings, a worker of concurrency 4. The tasks of one claim share its
/// `started_at`; with pages only ever as large as the free slots, no
/// claim would start more than four.
#[tokio::test]
async fn a_drain_of_short_tasks_claims_growing_pages() {
    let app = spawn_api_only(Backend::Postgres).await;
    let mut ids = Vec::new();
    for _ in 0..300 {
        ids.push(app.ping(json!({})).await);
    }
    let _worker = app.start_worker("growing-pages", &[("FERRY_WORKER__CONCURRENCY", "4")]);
    for id in &ids {
        let task = app.wait_finished(id).await;
        assert_eq!(task["status"], "succeeded", "{task}");
        assert_eq!(task["attempts"], 1, "{task}");
    }
    let pages = app
        .db
        .query_strings(
            "SELECT CAST(count(*) AS TEXT) FROM tasks GROUP BY started_at ORDER BY count(*) DESC",
        )
        .await;
    let sizes: Vec<u64> = pages
        .iter()
        .map(|size| size.as_deref().unwrap_or("0").parse().unwrap_or(0))
        .collect();
    let largest = sizes.first().copied().unwrap_or(0);
    assert!(
        (5..=32).contains(&largest),
        "the largest claim started {largest} tasks (claims: {sizes:?})"
    );
}

/// A job of a page claimed ahead starts as soon as one slot is free, not
/// once the whole page before has run. A worker of concurrency 2 finds a
/// 3 s task and six short ones queued: its first page (the long task and
/// a short one) comes back full with both slots free, so it claims the
/// next two at once; they, and the rest, must all run in the slot the
/// short task left, while the long one still holds the other.
#[tokio::test]
async fn a_page_claimed_ahead_starts_as_slots_free() {
    let app = spawn_api_only(Backend::Postgres).await;
    let long = app.ping(json!({ "sleepMs": 3000 })).await;
    let mut short = Vec::new();
    for _ in 0..6 {
        short.push(app.ping(json!({})).await);
    }
    let _worker = app.start_worker("ahead", &[("FERRY_WORKER__CONCURRENCY", "2")]);
    let long = app.wait_finished(&long).await;
    assert_eq!(long["status"], "succeeded", "{long}");
    let long_finished = long["finishedAt"].as_str().expect("finishedAt").to_owned();
    for id in &short {
        let task = app.wait_finished(id).await;
        assert_eq!(task["status"], "succeeded", "{task}");
        let finished = task["finishedAt"].as_str().expect("finishedAt");
        assert!(
            finished < long_finished.as_str(),
            "a short task finished at {finished}, after the long one ({long_finished}): {task}"
        );
    }
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
