//! Issue #16, item 0: ferry rides out a metadata-store outage of any length.
//!
//! A scratch PostgreSQL server of the test's own holds the store (the server
//! the other tests share must never go down). `ferry-api` and two
//! `ferry-worker` processes run on it while 16 clients submit `ping` tasks;
//! the server is restarted mid-load, then stopped for 30 s and started again.
//! Every task the API accepted (202) must end `succeeded`, no process may
//! exit, no request may get a 500 (503 is the answer while the store is
//! down), and `/readyz` must report the outage and the recovery.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use ferry_tests::{AppOptions, Backend, TestApp, eventually, postgres::ScratchPostgres};
use serde_json::{Value, json};

/// Concurrent submitting clients, as in the reproduction.
const CLIENTS: usize = 16;
/// How long the store stays down in the long outage.
const OUTAGE: Duration = Duration::from_secs(30);
/// How long after the store is back a newly accepted task may take to
/// succeed.
const RESUME_LIMIT: Duration = Duration::from_secs(20);
/// How long accepted tasks may take to finish once the store is back.
const SETTLE: Duration = Duration::from_secs(180);

/// What the clients saw.
#[derive(Default, Debug)]
struct Seen {
    accepted: Vec<String>,
    unavailable: usize,
    /// Transport errors (a request cut while the server stopped): not an
    /// answer, so allowed, but counted for the failure message.
    unanswered: usize,
    /// Any other status, with its body: the test fails on these.
    unexpected: Vec<(u16, String)>,
}

async fn readyz(client: &reqwest::Client, app: &TestApp) -> Option<u16> {
    client
        .get(app.url("/readyz"))
        .send()
        .await
        .ok()
        .map(|r| r.status().as_u16())
}

#[tokio::test]
async fn workers_ride_out_a_store_restart_and_a_30_s_outage() {
    // Declared first so that it is dropped last, after every process on it.
    let pg = ScratchPostgres::start().await;
    let mut options = AppOptions::new(Backend::Postgres).without_worker();
    options.store.postgres_admin_url = pg.admin_url();
    let mut app = TestApp::spawn_with(options).await;
    let mut workers = [
        app.start_worker("outage-w1", &[]),
        app.start_worker("outage-w2", &[]),
    ];
    // Generous: requests wait up to the pool's acquire timeout while the
    // store is down, and that wait must end in an answer, not a cut.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .no_proxy()
        .build()
        .expect("an HTTP client");

    let seen = Arc::new(Mutex::new(Seen::default()));
    let done = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let (client, seen, done) = (client.clone(), seen.clone(), done.clone());
        let (url, token) = (app.url("/api/v1/tasks"), app.admin_token.clone());
        clients.push(tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                let sent = client
                    .post(&url)
                    .bearer_auth(&token)
                    .json(&json!({ "kind": "ping", "payload": { "sleepMs": 20 } }))
                    .send()
                    .await;
                let answer = match sent {
                    Ok(resp) => Some((
                        resp.status().as_u16(),
                        resp.text().await.unwrap_or_default(),
                    )),
                    Err(_) => None,
                };
                {
                    let mut seen = seen.lock().unwrap();
                    match answer {
                        Some((202, body)) => {
                            let task: Value = serde_json::from_str(&body).expect("a task as JSON");
                            seen.accepted
                                .push(task["id"].as_str().expect("an id").to_owned());
                        }
                        Some((503, _)) => seen.unavailable += 1,
                        Some(other) => seen.unexpected.push(other),
                        None => seen.unanswered += 1,
                    }
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        }));
    }

    // Load, a restart in the middle of it, more load.
    tokio::time::sleep(Duration::from_secs(4)).await;
    pg.restart().await;
    tokio::time::sleep(Duration::from_secs(4)).await;

    // A long outage: /readyz says so while it lasts.
    pg.stop().await;
    let stopped = Instant::now();
    eventually(
        "/readyz to report the outage",
        Duration::from_secs(15),
        || async {
            match readyz(&client, &app).await {
                Some(503) => Ok(()),
                other => Err(other),
            }
        },
    )
    .await;
    tokio::time::sleep(OUTAGE.saturating_sub(stopped.elapsed())).await;
    assert_eq!(
        readyz(&client, &app).await,
        Some(503),
        "still down after {OUTAGE:?}"
    );
    let accepted_before_recovery = seen.lock().unwrap().accepted.len();
    pg.start_again().await;
    let back = Instant::now();
    eventually("/readyz to recover", Duration::from_secs(30), || async {
        match readyz(&client, &app).await {
            Some(200) => Ok(()),
            other => Err(other),
        }
    })
    .await;
    // How long after the store is back the workers run new tasks again:
    // the API's and the workers' pools reconnect, and the workers' probes
    // back off to at most 5 s, so the first task accepted after the outage
    // succeeds within seconds (docs/BENCHMARKS.md, "Recovery").
    let resumed = eventually(
        "a task accepted after the outage to succeed",
        RESUME_LIMIT,
        || async {
            let first = seen
                .lock()
                .unwrap()
                .accepted
                .get(accepted_before_recovery)
                .cloned();
            match first {
                Some(id) if app.task(&id).await["status"] == "succeeded" => Ok(back.elapsed()),
                other => Err(other),
            }
        },
    )
    .await;
    eprintln!(
        "store back to the first new task succeeded: {:.2} s (limit {} s)",
        resumed.as_secs_f64(),
        RESUME_LIMIT.as_secs()
    );
    // Load after the recovery too: the workers must claim new tasks.
    tokio::time::sleep(Duration::from_secs(4)).await;
    done.store(true, Ordering::Relaxed);
    for c in clients {
        c.await.expect("a client");
    }
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    eprintln!(
        "accepted {}, 503 {}, unanswered {}",
        seen.accepted.len(),
        seen.unavailable,
        seen.unanswered
    );
    assert!(
        seen.unexpected.is_empty(),
        "answers other than 202 and 503: {:?}",
        seen.unexpected
    );
    assert!(
        seen.unavailable > 0,
        "the API answered 503 while the store was down"
    );
    assert!(
        seen.accepted.len() > accepted_before_recovery,
        "tasks were accepted after the recovery"
    );

    // Every accepted task succeeds, read straight from the store.
    let total = seen.accepted.len();
    let statuses = eventually("every accepted task to succeed", SETTLE, || async {
        let rows = app
            .db
            .query_strings("SELECT id || ' ' || CAST(status AS TEXT) FROM tasks")
            .await;
        let succeeded: std::collections::HashSet<String> = rows
            .iter()
            .flatten()
            .filter_map(|row| row.strip_suffix(" succeeded").map(str::to_owned))
            .collect();
        let missing: Vec<&String> = seen
            .accepted
            .iter()
            .filter(|id| !succeeded.contains(*id))
            .collect();
        if missing.is_empty() {
            Ok(rows.len())
        } else {
            let sample: Vec<&Option<String>> = rows
                .iter()
                .filter(|r| r.as_deref().is_some_and(|r| !r.ends_with(" succeeded")))
                .take(5)
                .collect();
            Err(format!(
                "{} of {total} not succeeded, e.g. {sample:?}",
                missing.len()
            ))
        }
    })
    .await;
    assert!(statuses >= total);

    // Nothing exited, and the workers said what happened.
    app.api.ensure_running().unwrap_or_else(|e| panic!("{e}"));
    for w in workers.iter_mut() {
        w.ensure_running().unwrap_or_else(|e| panic!("{e}"));
        let out = w.output();
        assert!(out.contains("metadata store unreachable"), "{}", w.tail());
        assert!(out.contains("task worker resumes claiming"), "{}", w.tail());
    }
}
