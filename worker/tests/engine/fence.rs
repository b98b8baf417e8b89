//! Issue #16, item 2: leases fence. An engine whose lease can no longer be
//! renewed (its worker cut off from the metadata store) stops writing
//! downstream before the lease ends, so that the worker taking over after the
//! lease ended never races it; the next engine, started from the stopped
//! one's last checkpoint, makes the downstream equal to the upstream.

use std::time::Duration;

use ferry_tests::mariadb::system_server;
use ferry_worker::replication::engine::{Fence, ReplicationError, StartFrom};
use tokio::time::Instant;

use crate::helpers::{Feed, assert_same_table, position, rules, spec, upstream};

/// The lease of the fenced engine; its fence passes after three quarters.
const LEASE: Duration = Duration::from_secs(4);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unrenewed_lease_stops_the_engine_before_it_ends() {
    let up = upstream().await;
    let down = system_server();
    let ddb = down.create_database("ferry_e").await;
    let db = ddb.name().to_owned();
    let table = "CREATE TABLE `{db}`.log (id INT PRIMARY KEY, v VARCHAR(20))";
    up.exec(&format!(
        "CREATE DATABASE `{db}`; {}",
        table.replace("{db}", &db)
    ))
    .await;
    down.exec(&table.replace("{db}", &db)).await;

    // The lease is taken now and, the store being unreachable, never renewed.
    let taken = Instant::now();
    let fence = Fence::new(taken, LEASE);
    let feed = Feed::start_fenced(
        spec(&up, &down, &rules(&db), 2, 5),
        StartFrom::Checkpoint(position(&up).await),
        fence,
    );
    // A steady upstream load through the fence and past the lease's end.
    let inserts = up.spawn_inserts(&format!("`{db}`.log"), 300, 5, Duration::from_millis(40));
    // From the lease's end (when another worker may start) on, the
    // downstream does not change while the upstream goes on: the engine
    // stopped writing, and nothing it had in flight commits late. An engine
    // without a fence would apply the new rows within milliseconds.
    tokio::time::sleep(LEASE.saturating_sub(taken.elapsed())).await;
    let written = down.table_rows(&db, "log", "id").await.len();
    let upstream = up.table_rows(&db, "log", "id").await.len();
    assert!(written > 0, "the engine wrote before its fence");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        up.table_rows(&db, "log", "id").await.len() > upstream,
        "the upstream went on meanwhile"
    );
    assert_eq!(
        down.table_rows(&db, "log", "id").await.len(),
        written,
        "rows were written downstream after the lease ended"
    );
    // It ended because of the fence (it may take a little longer to return:
    // stopping the binlog reader is not bounded by the fence).
    let (result, last) = feed.ended().await;
    assert!(
        matches!(result, Err(ReplicationError::Fenced)),
        "the engine stopped because of its fence: {result:?}"
    );

    // The next holder resumes from the last checkpoint the fenced engine
    // reported (what its supervisor could persist) and catches up.
    let checkpoint = last.expect("the engine reported progress").checkpoint;
    let mut next = Feed::start(
        spec(&up, &down, &rules(&db), 2, 5),
        StartFrom::Checkpoint(checkpoint),
    );
    inserts.await.expect("the inserts");
    next.wait_for(&position(&up).await).await;
    assert_eq!(assert_same_table(&up, &down, &db, "log", "id").await, 1500);
    next.stop().await.0.expect("stopping returns Ok");
}
