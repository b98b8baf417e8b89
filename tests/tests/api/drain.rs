//! How the queue drains on PostgreSQL: the shape of a run's writes (no
//! index names what they write, room on the page for both of a run's row
//! versions), which outcomes are announced to other processes, the
//! connections claims and outcomes use, and the pages a worker claims.

use std::time::Duration;

use ferry_tests::{FerryProcess, postgres::ScratchPostgres};

use crate::helpers::*;

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
    let _worker = drain_pings(
        &app,
        "two-connections",
        &[
            ("FERRY_DATABASE_MAX_CONNECTIONS", "10"),
            ("FERRY_WORKER__CONCURRENCY", "4"),
        ],
    )
    .await;
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
    let _worker = drain_pings(&app, "growing-pages", &[("FERRY_WORKER__CONCURRENCY", "4")]).await;
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

/// Queues 300 pings, one per call, then starts a worker named `name` with
/// `env` and waits until each has succeeded at its first attempt. Returns
/// the worker, which stops when dropped.
async fn drain_pings(app: &TestApp, name: &str, env: &[(&str, &str)]) -> FerryProcess {
    let mut ids = Vec::new();
    for _ in 0..300 {
        ids.push(app.ping(json!({})).await);
    }
    let worker = app.start_worker(name, env);
    for id in &ids {
        let task = app.wait_finished(id).await;
        assert_eq!(task["status"], "succeeded", "{task}");
        assert_eq!(task["attempts"], 1, "{task}");
    }
    worker
}
