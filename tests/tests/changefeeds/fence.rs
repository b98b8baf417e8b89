//! Issue #16, item 2, from outside: a worker cut off from the metadata store
//! (while it still reaches both databases) stops writing downstream before
//! its lease ends, so the worker that takes the changefeed over never races
//! it, and the downstream ends equal to the upstream.
//!
//! The store is a scratch PostgreSQL server; worker A reaches it through a
//! relay the test cuts, worker B directly. Downstream, triggers on the
//! replicated `counter` row append every value written to an `applied`
//! table that only the downstream has. The upstream bumps the counter
//! steadily, so one engine writes it in increasing order; the engine that
//! takes over replays from the last checkpoint, which may go back once. Two
//! engines writing at the same time would interleave old and new values:
//! more than one step back.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicI64, Ordering},
    },
    time::{Duration, Instant},
};

use ferry_tests::{
    AppOptions, Backend, eventually, postgres::ScratchPostgres, tcp_proxy::CuttableProxy,
};
use serde_json::json;

use crate::helpers::Rig;

/// Short, so that the test sees a takeover within seconds.
const LEASE_SECONDS: u64 = 6;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_cut_off_from_the_store_stops_writing_before_another_takes_over() {
    // Declared first so that it is dropped last, after every process on it.
    let pg = ScratchPostgres::start().await;
    let mut options = AppOptions::new(Backend::Postgres).without_worker();
    options.store.postgres_admin_url = pg.admin_url();
    options.launch.env.push((
        "FERRY_CHANGEFEED__LEASE_SECONDS".to_owned(),
        LEASE_SECONDS.to_string(),
    ));
    let rig = Rig::start(options).await;
    let relay = CuttableProxy::start(pg.port()).await;
    let via_relay = rig.app.db.url().replace(
        &format!("127.0.0.1:{}/", pg.port()),
        &format!("127.0.0.1:{}/", relay.port()),
    );
    assert_ne!(
        via_relay,
        rig.app.db.url(),
        "the store's URL names its port"
    );
    let mut a = rig
        .app
        .start_worker("fence-a", &[("FERRY_DATABASE_URL", &via_relay)]);

    let db = format!("`{}`", rig.db);
    rig.both_exec(&format!(
        "CREATE DATABASE {db}; CREATE TABLE {db}.counter (id INT PRIMARY KEY, v BIGINT NOT NULL); \
         INSERT INTO {db}.counter VALUES (1, 0)"
    ))
    .await;
    rig.downstream
        .exec(&format!(
            "CREATE TABLE {db}.applied (seq BIGINT AUTO_INCREMENT PRIMARY KEY, v BIGINT NOT NULL); \
             CREATE TRIGGER {db}.on_insert AFTER INSERT ON {db}.counter FOR EACH ROW \
               INSERT INTO {db}.applied (v) VALUES (NEW.v); \
             CREATE TRIGGER {db}.on_update AFTER UPDATE ON {db}.counter FOR EACH ROW \
               INSERT INTO {db}.applied (v) VALUES (NEW.v)"
        ))
        .await;
    let id = rig.create(json!({})).await;
    rig.wait_status(&id, "Normal").await;
    let owner_sql = format!("SELECT owner FROM changefeeds WHERE id = '{id}'");
    let owner = || async { rig.app.db.query_strings(&owner_sql).await.pop().flatten() };
    let first = owner().await;
    assert!(
        first.as_deref().is_some_and(|o| o.contains("fence-a")),
        "worker A runs the changefeed: {first:?}"
    );

    // A steady upstream load on one row, and a second, inserting one.
    let stop = Arc::new(AtomicBool::new(false));
    let bumps = Arc::new(AtomicI64::new(0));
    let load = {
        let (server, stop, bumps) = (rig.upstream.server().clone(), stop.clone(), bumps.clone());
        let sql = format!("UPDATE {db}.counter SET v = v + 1 WHERE id = 1");
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                server.exec(&sql).await;
                bumps.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    rig.up(&format!(
        "CREATE TABLE {db}.log (id INT PRIMARY KEY, v VARCHAR(20))"
    ))
    .await;
    let inserts = rig.upstream.server().spawn_inserts(
        &format!("{db}.log"),
        400,
        5,
        Duration::from_millis(50),
    );
    let counter_sql = format!("SELECT CAST(v AS CHAR) FROM {db}.counter WHERE id = 1");
    eventually(
        "the counter to move downstream",
        Duration::from_secs(60),
        || async {
            match rig.downstream.query_one(&counter_sql).await {
                Some(v) if v != "0" => Ok(()),
                other => Err(other),
            }
        },
    )
    .await;

    // Worker B joins; then A loses the store, and only the store.
    let mut b = rig.app.start_worker("fence-b", &[]);
    tokio::time::sleep(Duration::from_secs(2)).await;
    relay.cut();
    let cut = Instant::now();
    let taken = eventually(
        "worker B to take the changefeed over",
        Duration::from_secs(LEASE_SECONDS * 4),
        || async {
            match owner().await {
                Some(o) if o.contains("fence-b") => Ok(cut.elapsed()),
                other => Err(other),
            }
        },
    )
    .await;
    eprintln!(
        "cut to takeover: {:.1} s (lease {LEASE_SECONDS} s)",
        taken.as_secs_f64()
    );
    assert!(
        taken >= Duration::from_secs(LEASE_SECONDS) / 2,
        "B took over before A's lease could have ended ({taken:?})"
    );
    // B writes while A, cut off, is still running and reading the binlog.
    tokio::time::sleep(Duration::from_secs(5)).await;
    a.ensure_running().expect("worker A rides out the cut");

    // A gets the store back: it must see B's lease and stay off.
    relay.restore();
    tokio::time::sleep(Duration::from_secs(LEASE_SECONDS)).await;
    stop.store(true, Ordering::Relaxed);
    load.await.expect("the upstream load");
    inserts.await.expect("the upstream inserts");
    assert!(
        owner()
            .await
            .as_deref()
            .is_some_and(|o| o.contains("fence-b")),
        "B keeps the changefeed once A is back"
    );
    a.ensure_running().expect("worker A is still up");
    b.ensure_running().expect("worker B is still up");

    // The downstream ends equal to the upstream.
    rig.assert_equal("counter", "id").await;
    rig.assert_equal("log", "id").await;
    let total = bumps.load(Ordering::Relaxed);
    assert_eq!(
        rig.downstream.query_one(&counter_sql).await,
        Some(total.to_string()),
        "every bump arrived"
    );

    // One engine at a time: the values written go back at most once, at
    // the takeover's replay from the checkpoint.
    let applied: Vec<i64> = rig
        .downstream
        .query(&format!(
            "SELECT CAST(v AS CHAR) FROM {db}.applied ORDER BY seq"
        ))
        .await
        .into_iter()
        .map(|row| {
            row[0]
                .as_deref()
                .and_then(|v| v.parse().ok())
                .expect("a value")
        })
        .collect();
    let steps_back: Vec<(usize, i64, i64)> = applied
        .windows(2)
        .enumerate()
        .filter(|(_, w)| w[1] < w[0])
        .map(|(i, w)| (i + 1, w[0], w[1]))
        .collect();
    eprintln!(
        "{} writes of the counter downstream, {} bumps upstream, steps back (at, from, to): {steps_back:?}",
        applied.len(),
        total
    );
    assert!(
        steps_back.len() <= 1,
        "two engines wrote the counter at once: it went back at {steps_back:?}"
    );
}
