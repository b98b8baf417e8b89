//! Bulk submission, the long-polling task read, and the wake-ups that start a
//! task in another process without waiting for that worker's poll (issue #19).

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use ferry_tests::Backend;

use crate::helpers::*;

both_backends!(
    a_list_of_tasks_is_accepted_whole_with_one_audit_entry,
    a_bad_list_is_refused_whole,
    a_long_poll_answers_when_the_task_finishes,
    a_bulk_list_is_queued_with_its_tasks_and_runs_in_batches,
);

async fn a_list_of_tasks_is_accepted_whole_with_one_audit_entry(backend: Backend) {
    let app = spawn_app(backend).await;
    // 105 tasks: two jobs, of 100 and of 5 (`submit::BULK_JOB_TASKS`).
    let list: Vec<Value> = (0..105)
        .map(|i| json!({ "kind": "ping", "subject": format!("s{i}") }))
        .collect();
    let accepted = app.post("/api/v1/tasks", &json!(list)).await.expect(202);
    let accepted = accepted.as_array().expect("a list answers a list");
    assert_eq!(accepted.len(), 105, "{accepted:?}");
    for (i, task) in accepted.iter().enumerate() {
        assert_eq!(
            task["subject"],
            format!("s{i}"),
            "answered in request order"
        );
    }
    // What a list records reads back as it was answered (on PostgreSQL the
    // list is written as JSON documents of rows, not bound values).
    let first = app
        .get(&format!("/api/v1/tasks/{}", task_id(&accepted[0])))
        .await
        .expect(200);
    for field in [
        "kind",
        "subject",
        "maxAttempts",
        "payload",
        "createdAt",
        "createdBy",
    ] {
        assert_eq!(first[field], accepted[0][field], "{field}: {first}");
    }
    let mut claims = std::collections::BTreeSet::new();
    for task in accepted {
        let done = app.wait_finished(&task_id(task)).await;
        assert_eq!(done["status"], "succeeded", "{done}");
        claims.insert(done["startedAt"].as_str().unwrap().to_owned());
    }
    // A job's tasks are claimed by one statement, at one instant.
    assert!(
        claims.len() <= 2,
        "105 tasks of a list run as 2 jobs, claimed at {} instants",
        claims.len()
    );
    let audit = app.get("/api/v1/audit?pageSize=50").await.expect(200);
    let submissions: Vec<&Value> = data(&audit)
        .iter()
        .filter(|e| e["method"] == "POST" && e["path"] == "/api/v1/tasks")
        .collect();
    assert_eq!(submissions.len(), 1, "one audit entry per call: {audit}");
    assert_eq!(submissions[0]["detail"]["tasks"], 105, "{audit}");
    assert_eq!(submissions[0]["status"], 202, "{audit}");
}

async fn a_bad_list_is_refused_whole(backend: Backend) {
    let app = spawn_api_only(backend).await;
    let bad = json!([
        { "kind": "ping" },
        { "kind": "ping", "maxAttempts": 3, "payload": { "failTimes": 11 } },
    ]);
    let refused = app.post("/api/v1/tasks", &bad).await.expect(400);
    let detail = refused["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains('1') && detail.contains("failTimes"),
        "the element and its field are named: {refused}"
    );
    let too_many = json!(vec![json!({ "kind": "ping" }); 1_001]);
    let refused = app.post("/api/v1/tasks", &too_many).await.expect(400);
    assert!(
        refused["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("1000"),
        "the limit is named: {refused}"
    );
    app.post("/api/v1/tasks", &json!([])).await.expect(400);
    let listed = app.get("/api/v1/tasks").await.expect(200);
    assert_eq!(
        listed["total"], 0,
        "nothing of a refused list is kept: {listed}"
    );
}

async fn a_long_poll_answers_when_the_task_finishes(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = app.ping(json!({ "sleepMs": 300 })).await;
    let started = Instant::now();
    let task = app
        .get(&format!("/api/v1/tasks/{id}?waitMs=20000"))
        .await
        .expect(200);
    assert_eq!(task["status"], "succeeded", "{task}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "answered when the task finished, not at the end of the wait: {:?}",
        started.elapsed()
    );

    // A task that cannot finish (no worker runs it) is answered as it is
    // when the wait ends.
    let idle = spawn_api_only(app.backend()).await;
    let id = idle.ping(json!({})).await;
    let started = Instant::now();
    let task = idle
        .get(&format!("/api/v1/tasks/{id}?waitMs=300"))
        .await
        .expect(200);
    assert_eq!(task["status"], "pending", "{task}");
    assert!(started.elapsed() >= Duration::from_millis(300));
    idle.get(&format!("/api/v1/tasks/{id}?waitMs=60001"))
        .await
        .expect(400);
}

/// A worker that would poll only every 30 s (and heartbeats every 5 s) still
/// starts a task submitted to another process at once: the API's
/// announcement wakes it.
#[tokio::test]
async fn an_idle_worker_in_another_process_starts_a_task_at_once() {
    let app = spawn_api_only(Backend::Postgres).await;
    let _worker = app.start_worker("idle", &[("FERRY_WORKER__POLL_MS", "30000")]);
    // The worker's first fetch, and its listener, come with its start.
    let first = app.ping(json!({})).await;
    app.get(&format!("/api/v1/tasks/{first}?waitMs=30000"))
        .await
        .expect(200);
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let id = app.ping(json!({})).await;
        let task = app
            .get(&format!("/api/v1/tasks/{id}?waitMs=10000"))
            .await
            .expect(200);
        assert_eq!(task["status"], "succeeded", "{task}");
        let at = |field: &str| {
            task[field]
                .as_str()
                .and_then(|s| s.parse::<DateTime<Utc>>().ok())
                .unwrap_or_else(|| panic!("{field} of {task}"))
        };
        let pickup = (at("startedAt") - at("createdAt"))
            .to_std()
            .unwrap_or_default();
        assert!(
            pickup < Duration::from_secs(1),
            "the task started {pickup:?} after it was submitted: {task}"
        );
    }
}

/// A bulk list is queued in the statement that records it (a `task_queue`
/// row per batch key of 100 tasks, before any worker runs), a worker claims
/// a key's tasks together and runs them as one attempt, and the queue is
/// empty once they are done: the task rows keep the record.
async fn a_bulk_list_is_queued_with_its_tasks_and_runs_in_batches(backend: Backend) {
    let app = spawn_api_only(backend).await;
    let list: Vec<Value> = (0..150)
        .map(|i| json!({ "kind": "ping", "subject": format!("s{i}") }))
        .collect();
    let accepted = app.post("/api/v1/tasks", &json!(list)).await.expect(202);
    let accepted = accepted.as_array().expect("a list answers a list").clone();
    let queued = app.db.query_strings("SELECT job_key FROM task_queue").await;
    let keys = [task_id(&accepted[0]), task_id(&accepted[100])];
    assert_eq!(queued.len(), 2, "a queue row per batch key: {queued:?}");
    for key in &keys {
        assert!(queued.contains(&Some(key.clone())), "{key} in {queued:?}");
    }
    let worker = app.start_worker("batcher", &[]);
    for task in &accepted {
        let done = app.wait_finished(&task_id(task)).await;
        assert_eq!(done["status"], "succeeded", "{done}");
        assert_eq!(done["attempts"], 1, "{done}");
        assert_eq!(done["worker"], "batcher", "{done}");
    }
    let left = app.db.query_strings("SELECT job_key FROM task_queue").await;
    assert!(
        left.is_empty(),
        "finished tasks left in the queue: {left:?}"
    );
    let output = worker.output();
    let batches = output.matches("batch attempt finished").count();
    assert_eq!(batches, 2, "a job per batch key:\n{output}");
}

/// Single submissions made at about the same moment are written by group
/// commit (`tasks::submit`): 64 submitted at once are each accepted with
/// their own task, queue row and audit row, in fewer transactions than
/// there are submissions (the audit rows' `xmin`, which no later write
/// changes; each submission committed on its own before), and each runs.
#[tokio::test]
async fn single_submissions_made_together_share_commits() {
    let app = spawn_api_only(Backend::Postgres).await;
    let submissions = (0..64).map(|i| {
        let app = &app;
        async move {
            app.post(
                "/api/v1/tasks",
                &json!({ "kind": "ping", "subject": format!("together-{i}") }),
            )
            .await
            .expect(202)
        }
    });
    let accepted = futures::future::join_all(submissions).await;
    for (i, task) in accepted.iter().enumerate() {
        assert_eq!(task["subject"], format!("together-{i}"), "{task}");
    }
    let count = |sql: &'static str| {
        let app = &app;
        async move {
            app.db.query_strings(sql).await[0]
                .as_deref()
                .and_then(|n| n.parse::<usize>().ok())
                .unwrap_or_else(|| panic!("{sql}"))
        }
    };
    // Every task has its queue row and the audit row of its own request.
    let queued = count(
        "SELECT count(*)::text FROM tasks t JOIN task_queue q ON q.job_key = t.id \
         WHERE t.subject LIKE 'together-%'",
    )
    .await;
    assert_eq!(queued, 64, "queue rows of the 64 tasks");
    let audited = count(
        "SELECT count(*)::text FROM tasks t JOIN audit_log a ON a.request_id = t.request_id \
         WHERE t.subject LIKE 'together-%' AND a.status = 202 AND a.path = '/api/v1/tasks'",
    )
    .await;
    assert_eq!(audited, 64, "audit rows of the 64 submissions");
    let commits = count(
        "SELECT count(DISTINCT a.xmin::text)::text FROM tasks t \
         JOIN audit_log a ON a.request_id = t.request_id WHERE t.subject LIKE 'together-%'",
    )
    .await;
    assert!(
        commits < 64,
        "64 submissions made together committed in {commits} transactions"
    );
    let _worker = app.start_worker("together", &[]);
    for task in &accepted {
        let done = app.wait_finished(&task_id(task)).await;
        assert_eq!(done["status"], "succeeded", "{done}");
    }
}
