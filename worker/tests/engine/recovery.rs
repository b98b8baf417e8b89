//! Stopping and restarting, replaying, crashing; retryable and fatal errors.

use ferry_tests::mariadb::{MariaDb, MariaDbOptions, system_server};
use ferry_worker::replication::engine::{Checkpoint, Downstream, ReplicationError, StartFrom};

use crate::helpers::{Feed, assert_same_table, position, rules, spec, upstream};

/// Stop, write while stopped, run again from the persisted checkpoint: the
/// downstream converges with nothing lost or duplicated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarts_from_a_checkpoint() {
    let up = upstream().await;
    let down = system_server();
    let ddb = down.create_database("ferry_e").await;
    let db = ddb.name().to_owned();
    up.exec(&format!(
        "CREATE DATABASE `{db}`;
         CREATE TABLE `{db}`.log (id INT PRIMARY KEY AUTO_INCREMENT, v VARCHAR(20));
         CREATE TABLE `{db}`.counter (id INT PRIMARY KEY, n INT NOT NULL);
         INSERT INTO `{db}`.counter VALUES (1, 0);"
    ))
    .await;
    down.exec(&format!(
        "CREATE TABLE `{db}`.log (id INT PRIMARY KEY AUTO_INCREMENT, v VARCHAR(20));
         CREATE TABLE `{db}`.counter (id INT PRIMARY KEY, n INT NOT NULL);
         INSERT INTO `{db}`.counter VALUES (1, 0);"
    ))
    .await;
    let bump = |tag: &str| {
        format!(
            "INSERT INTO `{db}`.log (v) VALUES ('{tag}1'), ('{tag}2'), ('{tag}3');
             UPDATE `{db}`.counter SET n = n + 1;"
        )
    };

    let start = position(&up).await;
    let mut feed = Feed::start(
        spec(&up, &down, &rules(&db), 2, 100),
        StartFrom::Checkpoint(start),
    );
    for _ in 0..5 {
        up.exec(&bump("run1-")).await;
    }
    feed.wait_for(&position(&up).await).await;
    let (result, last) = feed.stop().await;
    result.expect("stopping returns Ok");
    let checkpoint = last.checkpoint;

    // Written while no engine runs, across a binlog rotation.
    for i in 0..5 {
        up.exec(&bump("stopped-")).await;
        if i == 2 {
            up.exec("FLUSH BINARY LOGS").await;
        }
    }
    let mut feed = Feed::start(
        spec(&up, &down, &rules(&db), 2, 100),
        StartFrom::Checkpoint(checkpoint),
    );
    for _ in 0..5 {
        up.exec(&bump("run2-")).await;
        up.exec("FLUSH BINARY LOGS").await;
    }
    let target = position(&up).await;
    assert_eq!(target.file, "binlog.000007");
    feed.wait_for(&target).await;
    assert_eq!(assert_same_table(&up, &down, &db, "log", "id").await, 45);
    assert_eq!(assert_same_table(&up, &down, &db, "counter", "id").await, 1);
    assert_eq!(
        down.query_one(&format!("SELECT CAST(n AS CHAR) FROM `{db}`.counter"))
            .await
            .as_deref(),
        Some("15")
    );
    feed.stop().await.0.expect("stopping returns Ok");
}

/// Replaying from an older checkpoint, DDL included, converges: every
/// change is applied idempotently.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_from_an_older_checkpoint_converges() {
    let up = upstream().await;
    let down = system_server();
    let ddb = down.create_database("ferry_e").await;
    let db = ddb.name().to_owned();
    let start = position(&up).await;
    let mut feed = Feed::start(
        spec(&up, &down, &rules(&db), 3, 50),
        StartFrom::Checkpoint(start.clone()),
    );
    up.exec(&format!(
        "CREATE DATABASE IF NOT EXISTS `{db}`; USE `{db}`;
         CREATE TABLE t (id INT PRIMARY KEY, a VARCHAR(10), b INT);
         INSERT INTO t VALUES (1, 'one', 1), (2, 'two', 2), (3, 'three', 3);
         UPDATE t SET id = 10 WHERE id = 1;
         ALTER TABLE t ADD COLUMN c INT NOT NULL DEFAULT 7;
         UPDATE t SET c = id * 100 WHERE id = 2;
         DELETE FROM t WHERE id = 3;
         CREATE TABLE gone (id INT PRIMARY KEY);
         INSERT INTO gone VALUES (1);
         DROP TABLE gone;
         CREATE TABLE kept (id INT PRIMARY KEY, v INT);
         INSERT INTO kept VALUES (1, 1), (2, 2);
         UPDATE kept SET v = v + 10;
         TRUNCATE TABLE t;
         INSERT INTO t (id, a, b) VALUES (5, 'five', 5);"
    ))
    .await;
    let target = position(&up).await;
    feed.wait_for(&target).await;
    feed.stop().await.0.expect("stopping returns Ok");
    assert_same_table(&up, &down, &db, "t", "id").await;

    // From the very beginning again: every row and DDL is applied twice.
    let mut feed = Feed::start(
        spec(&up, &down, &rules(&db), 3, 50),
        StartFrom::Checkpoint(start),
    );
    feed.wait_for(&target).await;
    assert_eq!(assert_same_table(&up, &down, &db, "t", "id").await, 1);
    assert_eq!(assert_same_table(&up, &down, &db, "kept", "id").await, 2);
    assert_eq!(down.tables(&db).await, vec!["kept", "t"]);
    feed.stop().await.0.expect("stopping returns Ok");
}

/// A crash (the engine dropped mid-stream, no clean stop) and a restart
/// from the last reported checkpoint converge: at-least-once delivery into
/// an idempotent sink.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_and_resume_converges() {
    let up = upstream().await;
    let down = system_server();
    let ddb = down.create_database("ferry_e").await;
    let db = ddb.name().to_owned();
    let tables = "CREATE TABLE t (id INT PRIMARY KEY, v INT NOT NULL, w VARCHAR(20));
        CREATE TABLE u (id INT PRIMARY KEY, k INT NOT NULL, UNIQUE KEY (k));
        INSERT INTO u VALUES (0, 0), (1, 10), (2, 20), (3, 30), (4, 40), (5, 50), (6, 60)";
    up.exec(&format!("CREATE DATABASE `{db}`; USE `{db}`; {tables}"))
        .await;
    down.exec(&format!("USE `{db}`; {tables}")).await;
    let start = position(&up).await;
    let mut feed = Feed::start(
        spec(&up, &down, &rules(&db), 4, 20),
        StartFrom::Checkpoint(start.clone()),
    );

    let writer = {
        let up = up.server().clone();
        let db = db.clone();
        tokio::spawn(async move {
            for i in 0..300u32 {
                // Also swaps unique values between rows of `u`.
                let (a, b) = (i % 7, (i + 3) % 7);
                up.exec(&format!(
                    "USE `{db}`; START TRANSACTION;
                     INSERT INTO t VALUES ({i}, 0, 'new');
                     UPDATE t SET v = v + 1 WHERE id % 7 = {} ;
                     DELETE FROM t WHERE id = {};
                     SELECT k INTO @ka FROM u WHERE id = {a};
                     SELECT k INTO @kb FROM u WHERE id = {b};
                     UPDATE u SET k = -1 WHERE id = {a};
                     UPDATE u SET k = @ka WHERE id = {b};
                     UPDATE u SET k = @kb WHERE id = {a};
                     COMMIT",
                    i % 7,
                    i.saturating_sub(5) * 3
                ))
                .await;
            }
        })
    };
    feed.wait_rows(200).await;
    let crashed_at = feed.crash().await;
    writer.await.expect("the writer finishes");

    let mut feed = Feed::start(
        spec(&up, &down, &rules(&db), 4, 20),
        StartFrom::Checkpoint(crashed_at.checkpoint),
    );
    let end = position(&up).await;
    feed.wait_for(&end).await;
    assert!(assert_same_table(&up, &down, &db, "t", "id").await > 200);
    assert_eq!(assert_same_table(&up, &down, &db, "u", "id").await, 7);
    feed.stop().await.0.expect("stopping returns Ok");

    // Everything once more from the start: still the same rows.
    let mut feed = Feed::start(
        spec(&up, &down, &rules(&db), 4, 20),
        StartFrom::Checkpoint(start),
    );
    feed.wait_for(&end).await;
    assert!(assert_same_table(&up, &down, &db, "t", "id").await > 200);
    assert_eq!(assert_same_table(&up, &down, &db, "u", "id").await, 7);
    feed.stop().await.0.expect("stopping returns Ok");
}

/// Stopping while changes stream in returns Ok promptly with a final
/// checkpoint from which a restart converges.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_under_load() {
    let up = upstream().await;
    let down = system_server();
    let ddb = down.create_database("ferry_e").await;
    let db = ddb.name().to_owned();
    let table = "CREATE TABLE t (id INT PRIMARY KEY, v INT NOT NULL)";
    up.exec(&format!("CREATE DATABASE `{db}`; USE `{db}`; {table}"))
        .await;
    down.exec(&format!("USE `{db}`; {table}")).await;
    let start = position(&up).await;
    let mut feed = Feed::start(
        spec(&up, &down, &rules(&db), 4, 50),
        StartFrom::Checkpoint(start),
    );
    let writer = {
        let up = up.server().clone();
        let db = db.clone();
        tokio::spawn(async move {
            for i in 0..100u32 {
                let values: Vec<String> =
                    (0..50).map(|j| format!("({}, {j})", i * 50 + j)).collect();
                up.exec(&format!(
                    "INSERT INTO `{db}`.t VALUES {}; UPDATE `{db}`.t SET v = v + 1 WHERE id % 3 = 0",
                    values.join(",")
                ))
                .await;
            }
        })
    };
    feed.wait_rows(500).await;
    let asked = std::time::Instant::now();
    let (result, last) = feed.stop().await;
    result.expect("stopping under load returns Ok");
    assert!(
        asked.elapsed() < std::time::Duration::from_secs(15),
        "{:?}",
        asked.elapsed()
    );
    writer.await.expect("the writer finishes");

    let mut feed = Feed::start(
        spec(&up, &down, &rules(&db), 4, 50),
        StartFrom::Checkpoint(last.checkpoint),
    );
    feed.wait_for(&position(&up).await).await;
    assert_eq!(assert_same_table(&up, &down, &db, "t", "id").await, 5000);
    feed.stop().await.0.expect("stopping returns Ok");
}

/// What may pass later is Retryable: an unreachable upstream or downstream,
/// an upstream that goes away mid-stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_failures_are_retryable() {
    let up = upstream().await;
    let down = system_server();
    let ddb = down.create_database("ferry_e").await;
    let db = ddb.name().to_owned();
    let closed_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };

    let mut nowhere = spec(&up, &down, &rules(&db), 1, 10);
    nowhere.upstream.port = closed_port;
    let err = Feed::start(nowhere, StartFrom::Now).error().await;
    assert!(
        matches!(&err, ReplicationError::Retryable(m) if m.contains("cannot connect to the upstream")),
        "{err:?}"
    );

    up.exec(&format!(
        "CREATE DATABASE `{db}`; CREATE TABLE `{db}`.t (id INT PRIMARY KEY)"
    ))
    .await;
    let mut no_downstream = spec(&up, &down, &rules(&db), 2, 10);
    if let Downstream::Mysql(endpoint) = &mut no_downstream.downstream {
        endpoint.port = closed_port;
    }
    let feed = Feed::start(no_downstream, StartFrom::Checkpoint(position(&up).await));
    up.exec(&format!("INSERT INTO `{db}`.t VALUES (1)")).await;
    let err = feed.error().await;
    assert!(
        matches!(&err, ReplicationError::Retryable(m) if m.contains("cannot connect to the downstream")),
        "{err:?}"
    );

    let mut feed = Feed::start(spec(&up, &down, &rules(&db), 2, 10), StartFrom::Now);
    feed.wait_started().await;
    drop(up);
    let err = feed.error().await;
    assert!(matches!(&err, ReplicationError::Retryable(_)), "{err:?}");
}

/// What no retry can fix ends the engine with a Fatal error saying why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fatal_errors_explain_themselves() {
    let up = upstream().await;
    let down = system_server();
    let ddb = down.create_database("ferry_e").await;
    let db = ddb.name().to_owned();

    // A checkpoint in a binlog file the upstream does not have.
    let gone = Checkpoint {
        file: "binlog.000999".into(),
        position: 4,
        gtid: None,
        tso: 0,
    };
    let err = Feed::start(
        spec(&up, &down, &rules(&db), 1, 10),
        StartFrom::Checkpoint(gone),
    )
    .error()
    .await;
    assert!(
        matches!(&err, ReplicationError::Fatal(m) if m.contains("binlog.000999")),
        "{err:?}"
    );

    // A downstream table that lacks a column.
    up.exec(&format!(
        "CREATE DATABASE `{db}`; CREATE TABLE `{db}`.t (id INT PRIMARY KEY, extra INT)"
    ))
    .await;
    down.exec(&format!("CREATE TABLE `{db}`.t (id INT PRIMARY KEY)"))
        .await;
    let start = position(&up).await;
    let feed = Feed::start(
        spec(&up, &down, &rules(&db), 2, 10),
        StartFrom::Checkpoint(start),
    );
    up.exec(&format!("INSERT INTO `{db}`.t VALUES (1, 2)"))
        .await;
    let err = feed.error().await;
    assert!(
        matches!(&err, ReplicationError::Fatal(m) if m.contains("schema mismatch") && m.contains("`extra`")),
        "{err:?}"
    );

    // A row image that is not FULL.
    up.exec(&format!(
        "CREATE TABLE `{db}`.m (id INT PRIMARY KEY, v INT); INSERT INTO `{db}`.m VALUES (1, 1)"
    ))
    .await;
    down.exec(&format!(
        "CREATE TABLE `{db}`.m (id INT PRIMARY KEY, v INT)"
    ))
    .await;
    let feed = Feed::start(
        spec(&up, &down, &[format!("{db}.m")], 2, 10),
        StartFrom::Checkpoint(position(&up).await),
    );
    up.exec(&format!(
        "SET SESSION binlog_row_image = 'MINIMAL'; UPDATE `{db}`.m SET v = 2"
    ))
    .await;
    let err = feed.error().await;
    assert!(
        matches!(&err, ReplicationError::Fatal(m) if m.contains("binlog_row_image must be FULL")),
        "{err:?}"
    );

    // A change logged as a statement.
    let feed = Feed::start(
        spec(&up, &down, &[format!("{db}.m")], 2, 10),
        StartFrom::Checkpoint(position(&up).await),
    );
    up.exec(&format!(
        "SET SESSION binlog_format = 'STATEMENT'; USE `{db}`; INSERT INTO m VALUES (2, 2)"
    ))
    .await;
    let err = feed.error().await;
    assert!(
        matches!(&err, ReplicationError::Fatal(m) if m.contains("binlog_format must be ROW")),
        "{err:?}"
    );

    // A row too big for the downstream's max_allowed_packet.
    let small = MariaDb::start_with(MariaDbOptions {
        server_id: 5,
        extra_args: vec!["--max-allowed-packet=1M".into()],
        ..Default::default()
    })
    .await;
    small
        .exec(&format!(
            "CREATE DATABASE `{db}`; CREATE TABLE `{db}`.big (id INT PRIMARY KEY, b LONGBLOB)"
        ))
        .await;
    up.exec(&format!(
        "CREATE TABLE `{db}`.big (id INT PRIMARY KEY, b LONGBLOB)"
    ))
    .await;
    let feed = Feed::start(
        spec(&up, &small, &[format!("{db}.big")], 1, 10),
        StartFrom::Checkpoint(position(&up).await),
    );
    up.exec(&format!(
        "INSERT INTO `{db}`.big VALUES (1, REPEAT('x', 2000000))"
    ))
    .await;
    let err = feed.error().await;
    assert!(
        matches!(&err, ReplicationError::Fatal(m) if m.contains("max_allowed_packet") && m.contains("`big`")),
        "{err:?}"
    );

    // Compressed binlog events.
    let compressed = MariaDb::start_with(MariaDbOptions {
        server_id: 4,
        extra_args: vec![
            "--log-bin-compress=ON".into(),
            "--log-bin-compress-min-len=10".into(),
        ],
        ..Default::default()
    })
    .await;
    let start = position(&compressed).await;
    let feed = Feed::start(
        spec(&compressed, &down, &rules(&db), 1, 10),
        StartFrom::Checkpoint(start),
    );
    compressed
        .exec(&format!(
            "CREATE DATABASE `{db}`; CREATE TABLE `{db}`.t (id INT PRIMARY KEY, v TEXT);
             INSERT INTO `{db}`.t VALUES (1, REPEAT('x', 1000))"
        ))
        .await;
    let err = feed.error().await;
    assert!(
        matches!(&err, ReplicationError::Fatal(m) if m.contains("compressed")),
        "{err:?}"
    );
}
