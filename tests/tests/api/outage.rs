//! Issue #16, item 0: ferry rides out a metadata-store outage of any length.
//!
//! A scratch PostgreSQL server of the test's own holds the store (the server
//! the other tests share must never go down). 16 clients submit `ping`
//! tasks while the server is restarted and stopped. Every task the API
//! accepted (202) must end `succeeded`, no process may exit, no request may
//! get a 500 (503 is the answer while the store is down), and `/readyz` must
//! report the outage and the recovery. Two deployments are tried: `ferry-api`
//! with two `ferry-worker` processes, and `ferry-api --with-worker` alone.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use ferry_tests::{
    AppOptions, Backend, FerryProcess, TestApp, eventually, postgres::ScratchPostgres,
};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

/// Concurrent submitting clients, as in the reproduction.
const CLIENTS: usize = 16;
/// How long the store stays down in the long outage.
const OUTAGE: Duration = Duration::from_secs(30);
/// How long after the store is back the workers may take to finish a task
/// again.
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

/// [`CLIENTS`] clients submitting `ping` tasks until [`Load::finish`].
struct Load {
    seen: Arc<Mutex<Seen>>,
    done: Arc<AtomicBool>,
    clients: Vec<JoinHandle<()>>,
}

impl Load {
    fn start(app: &TestApp, client: &reqwest::Client) -> Self {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let done = Arc::new(AtomicBool::new(false));
        let clients = (0..CLIENTS)
            .map(|_| {
                let (client, seen, done) = (client.clone(), seen.clone(), done.clone());
                let (url, token) = (app.url("/api/v1/tasks"), app.admin_token.clone());
                tokio::spawn(async move {
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
                        seen.lock().unwrap().record(answer);
                        tokio::time::sleep(Duration::from_millis(25)).await;
                    }
                })
            })
            .collect();
        Self {
            seen,
            done,
            clients,
        }
    }

    fn accepted(&self) -> usize {
        self.seen.lock().unwrap().accepted.len()
    }

    /// Stops the clients and checks what they saw: only 202 and 503, some of
    /// each, and tasks accepted after the recovery (the first `before`
    /// accepted ones came before it).
    async fn finish(self, before: usize) -> Seen {
        self.done.store(true, Ordering::Relaxed);
        for c in self.clients {
            c.await.expect("a client");
        }
        let seen = std::mem::take(&mut *self.seen.lock().unwrap());
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
            seen.accepted.len() > before,
            "tasks were accepted after the recovery"
        );
        seen
    }
}

impl Seen {
    fn record(&mut self, answer: Option<(u16, String)>) {
        match answer {
            Some((202, body)) => {
                let task: Value = serde_json::from_str(&body).expect("a task as JSON");
                self.accepted
                    .push(task["id"].as_str().expect("an id").to_owned());
            }
            Some((503, _)) => self.unavailable += 1,
            Some(other) => self.unexpected.push(other),
            None => self.unanswered += 1,
        }
    }
}

async fn readyz(client: &reqwest::Client, app: &TestApp) -> Option<u16> {
    client
        .get(app.url("/readyz"))
        .send()
        .await
        .ok()
        .map(|r| r.status().as_u16())
}

/// Generous: requests wait up to the pool's acquire timeout while the store
/// is down, and that wait must end in an answer, not a cut.
fn patient_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .no_proxy()
        .build()
        .expect("an HTTP client")
}

/// ferry on a store of `pg`, with its worker in the API process or not.
async fn app_on(pg: &ScratchPostgres, with_worker: bool) -> TestApp {
    let mut options = AppOptions::new(Backend::Postgres);
    options.with_worker = with_worker;
    options.store.postgres_admin_url = pg.admin_url();
    TestApp::spawn_with(options).await
}

/// When the store came back, and what it had been when it stopped.
struct Recovery {
    /// When `pg_ctl start` returned.
    back: Instant,
    /// The store's own clock just before it stopped: no task can finish
    /// while it is down, so a task finished later was finished after it
    /// came back.
    stopped_at: String,
    /// How many tasks the load had had accepted when it came back.
    accepted_before: usize,
}

/// Stops the store for `outage`, checking that `/readyz` says so, and starts
/// it again; returns when `/readyz` is back to 200.
async fn outage(
    pg: &ScratchPostgres,
    app: &TestApp,
    client: &reqwest::Client,
    load: &Load,
    outage: Duration,
) -> Recovery {
    let stopped_at = app
        .db
        .query_strings("SELECT CAST(now() AS TEXT)")
        .await
        .pop()
        .flatten()
        .expect("the store's clock");
    pg.stop().await;
    let stopped = Instant::now();
    eventually(
        "/readyz to report the outage",
        Duration::from_secs(15),
        || async {
            match readyz(client, app).await {
                Some(503) => Ok(()),
                other => Err(other),
            }
        },
    )
    .await;
    tokio::time::sleep(outage.saturating_sub(stopped.elapsed())).await;
    assert_eq!(
        readyz(client, app).await,
        Some(503),
        "still down after {outage:?}"
    );
    let accepted_before = load.accepted();
    pg.start_again().await;
    let back = Instant::now();
    eventually("/readyz to recover", Duration::from_secs(30), || async {
        match readyz(client, app).await {
            Some(200) => Ok(()),
            other => Err(other),
        }
    })
    .await;
    Recovery {
        back,
        stopped_at,
        accepted_before,
    }
}

/// How long after the store is back the workers finish tasks again: the
/// API's and the workers' pools reconnect, and the workers' probes back off
/// to at most 5 s, so a task finishes within seconds (docs/BENCHMARKS.md,
/// "Recovery"). Measured as the first task finished after the store came
/// back, whichever it is: the backlog accepted before the outage comes
/// first, and how long it takes to drain depends on the workers' number,
/// not on their recovery.
async fn assert_resumes(app: &TestApp, recovery: &Recovery) {
    let sql = format!(
        "SELECT CAST(count(*) AS TEXT) FROM tasks \
         WHERE status = 'succeeded' AND finished_at > '{}'",
        recovery.stopped_at
    );
    let resumed = eventually(
        "a task to succeed after the outage",
        RESUME_LIMIT,
        || async {
            match app.db.query_strings(&sql).await.pop().flatten() {
                Some(n) if n != "0" => Ok(recovery.back.elapsed()),
                other => Err(other),
            }
        },
    )
    .await;
    eprintln!(
        "store back to the first task finished: {:.2} s (limit {} s)",
        resumed.as_secs_f64(),
        RESUME_LIMIT.as_secs()
    );
}

/// Every accepted task succeeds, read straight from the store.
async fn assert_every_accepted_succeeds(app: &TestApp, seen: &Seen) {
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
        let missing = seen
            .accepted
            .iter()
            .filter(|id| !succeeded.contains(*id))
            .count();
        if missing == 0 {
            Ok(rows.len())
        } else {
            let sample: Vec<&Option<String>> = rows
                .iter()
                .filter(|r| r.as_deref().is_some_and(|r| !r.ends_with(" succeeded")))
                .take(5)
                .collect();
            Err(format!(
                "{missing} of {total} not succeeded, e.g. {sample:?}"
            ))
        }
    })
    .await;
    assert!(statuses >= total);
}

/// The process is up and said that the store went away and came back.
fn assert_rode_it_out(process: &mut FerryProcess) {
    process.ensure_running().unwrap_or_else(|e| panic!("{e}"));
    let out = process.output();
    assert!(
        out.contains("metadata store unreachable"),
        "{}",
        process.tail()
    );
    assert!(
        out.contains("task worker resumes claiming"),
        "{}",
        process.tail()
    );
}

#[tokio::test]
async fn workers_ride_out_a_store_restart_and_a_30_s_outage() {
    // Declared first so that it is dropped last, after every process on it.
    let pg = ScratchPostgres::start().await;
    let mut app = app_on(&pg, false).await;
    let mut workers = [
        app.start_worker("outage-w1", &[]),
        app.start_worker("outage-w2", &[]),
    ];
    let client = patient_client();
    let load = Load::start(&app, &client);

    // Load, a restart in the middle of it, more load.
    tokio::time::sleep(Duration::from_secs(4)).await;
    pg.restart().await;
    tokio::time::sleep(Duration::from_secs(4)).await;

    // A long outage, then load after the recovery: the workers must claim
    // new tasks.
    let recovery = outage(&pg, &app, &client, &load, OUTAGE).await;
    assert_resumes(&app, &recovery).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let seen = load.finish(recovery.accepted_before).await;
    assert_every_accepted_succeeds(&app, &seen).await;

    // Nothing exited, and the workers said what happened.
    app.api.ensure_running().unwrap_or_else(|e| panic!("{e}"));
    for w in workers.iter_mut() {
        assert_rode_it_out(w);
    }
}

/// The embedded deployment of the README: one `ferry-api --with-worker`
/// process, whose worker must ride the outage out beside its API.
#[tokio::test]
async fn api_with_worker_rides_out_a_store_outage() {
    let pg = ScratchPostgres::start().await;
    let mut app = app_on(&pg, true).await;
    let client = patient_client();
    let load = Load::start(&app, &client);
    tokio::time::sleep(Duration::from_secs(4)).await;
    let recovery = outage(&pg, &app, &client, &load, Duration::from_secs(15)).await;
    assert_resumes(&app, &recovery).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let seen = load.finish(recovery.accepted_before).await;
    assert_every_accepted_succeeds(&app, &seen).await;
    assert_rode_it_out(&mut app.api);
}
