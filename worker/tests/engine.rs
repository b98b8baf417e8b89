//! The replication engine run directly (not through the API) from a scratch
//! MariaDB upstream with a ROW binlog into the system MariaDB (a fresh
//! database per test, dropped afterwards).
//!
//! Needs `mariadbd` and `mariadb-install-db` (scratch upstreams) and a
//! MariaDB/MySQL on 127.0.0.1:3306 with a passwordless root (the
//! downstream); see `ferry_tests::mariadb`.

#[path = "engine/helpers.rs"]
mod helpers;

use std::time::{Duration, Instant};

use ferry_tests::mariadb::{MariaDb, MariaDbOptions, system_server};
use ferry_worker::changefeed::{
    engine::{Checkpoint, ReplicationError, StartFrom},
    filter::TableFilter,
    precheck, tso,
};
use helpers::{Feed, assert_same_table, endpoint, position, spec, upstream};

fn rules(db: &str) -> Vec<String> {
    vec![format!("{db}.*")]
}

/// A table with one column of every type ferry must round-trip.
fn types_table(db: &str) -> String {
    format!(
        "CREATE TABLE `{db}`.types (
            id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
            i8 TINYINT, u8 TINYINT UNSIGNED, i16 SMALLINT, u24 MEDIUMINT UNSIGNED,
            i32 INT, i64 BIGINT, u64 BIGINT UNSIGNED,
            dec1 DECIMAL(30,10), dec2 DECIMAL(5,0), dec3 DECIMAL(65,30),
            f FLOAT, d DOUBLE,
            dt3 DATETIME(3), dt6 DATETIME(6), dt0 DATETIME,
            ts6 TIMESTAMP(6) NULL DEFAULT NULL, ts0 TIMESTAMP NULL DEFAULT NULL,
            dte DATE, tm2 TIME(2), tm0 TIME, yr YEAR,
            js JSON, txt TEXT, vc VARCHAR(100), ch CHAR(10),
            l1 VARCHAR(20) CHARACTER SET latin1,
            bin8 BINARY(8), vb VARBINARY(20), bl BLOB, lb LONGBLOB,
            en ENUM('a','b','c'), st SET('x','y','z'),
            b1 BIT(1), b10 BIT(10), b64 BIT(64)
        )"
    )
}

const TYPE_ROWS: &str = "INSERT INTO types VALUES
    (1, -128, 255, -32768, 16777215, -2147483648, -9223372036854775808, 18446744073709551615,
     12345678901234567890.1234567890, -99999, -0.000000000000000000000000000001,
     1.1, 0.30000000000000004,
     '2024-02-29 23:59:59.999', '1000-01-01 00:00:00.000001', '9999-12-31 23:59:59',
     '1970-01-01 00:00:01.000001', '2038-01-19 03:14:07',
     '2024-02-29', '-838:59:59.00', '12:34:56', 2155,
     '{\"a\": [1, 2.5, \"é\"], \"b\": null, \"c\": {\"d\": true}}',
     'emoji 🦀 quote '' backslash \\\\ nul \\0 newline \\n end',
     'trailing space   ', 'ch',
     'café',
     x'0102', x'01000000', x'000102030405060708090a0b0c0d0e0f10ff', x'00',
     'b', 'x,z', b'1', b'1010101010', x'ffffffffffffffff'),
    (2, 127, 0, 32767, 0, 2147483647, 9223372036854775807, 0,
     -0.0000000001, 0, 99999999999999999999999999999999999.999999999999999999999999999999,
     -3.40282e38, 1.7976931348623157e308,
     '0000-00-00 00:00:00.000', '2000-01-01 12:00:00.5', '0000-00-00 00:00:00',
     '2038-01-19 03:14:07.999999', NULL,
     '0000-00-00', '838:59:59.99', '-00:00:01', 0,
     '[]', '', '', '',
     '',
     x'0000000000000000', x'', x'', x'',
     'a', '', b'0', b'0', x'0000000000000000'),
    (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
     NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
     NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)";

/// Inserts, multi-row updates, deletes, a multi-statement transaction, a
/// rolled-back transaction, DDL (add column, new table, drop table), a key
/// change and every type, with 4 appliers and small transactions: the
/// downstream ends equal to the upstream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicates_rows_types_and_ddl() {
    let up = upstream().await;
    let down = system_server();
    let ddb = down.create_database("ferry_e").await;
    let db = ddb.name().to_owned();
    let start = position(&up).await;
    let mut feed = Feed::start(
        spec(&up, &down, &rules(&db), 4, 7),
        StartFrom::Checkpoint(start),
    );

    up.exec(&format!("CREATE DATABASE `{db}`")).await;
    up.exec(&types_table(&db)).await;
    up.exec(&format!("USE `{db}`; {TYPE_ROWS}")).await;
    up.exec(&format!(
        "USE `{db}`;
         CREATE TABLE items (id INT PRIMARY KEY AUTO_INCREMENT, name VARCHAR(50) NOT NULL, qty INT NOT NULL DEFAULT 0);
         INSERT INTO items (name, qty) VALUES ('a', 1), ('b', 2), ('c', 3), ('d', 4), ('e', 5), ('f', 6);
         SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_AUTO_VALUE_ON_ZERO');
         INSERT INTO items (id, name, qty) VALUES (0, 'zero', 0);
         UPDATE items SET qty = qty * 10 WHERE id > 2;
         DELETE FROM items WHERE name IN ('b', 'd');
         START TRANSACTION;
           INSERT INTO items (name, qty) VALUES ('g', 7);
           UPDATE items SET name = 'A' WHERE id = 1;
           DELETE FROM items WHERE id = 3;
           UPDATE types SET vc = 'changed in a transaction', u64 = 1 WHERE id = 2;
         COMMIT;
         START TRANSACTION;
           INSERT INTO items (name, qty) VALUES ('rolled back', 99);
           UPDATE items SET qty = -1;
           DELETE FROM types;
         ROLLBACK;
         UPDATE items SET id = 100 WHERE id = 5;
         ALTER TABLE items ADD COLUMN note VARCHAR(20) NULL;
         UPDATE items SET note = CONCAT('n', id) WHERE id % 2 = 0;
         INSERT INTO items (name, qty, note) VALUES ('h', 8, 'after alter');
         CREATE TABLE dropped (id INT PRIMARY KEY);
         INSERT INTO dropped VALUES (1), (2);
         DROP TABLE dropped;
         CREATE TABLE renamed_a (id INT PRIMARY KEY, v INT);
         INSERT INTO renamed_a VALUES (1, 1);
         RENAME TABLE renamed_a TO renamed_b;
         INSERT INTO renamed_b VALUES (2, 2);
         CREATE TABLE uniq (a INT NOT NULL, b VARCHAR(10) NOT NULL, v INT, UNIQUE KEY (a, b));
         INSERT INTO uniq VALUES (1, 'x', 1), (2, 'y', 2), (3, 'z', 3);
         UPDATE uniq SET v = 20 WHERE a = 2;
         UPDATE uniq SET a = 30 WHERE a = 3;
         DELETE FROM uniq WHERE a = 1;"
    ))
    .await;
    // Many rows in one transaction: split into rounds of 7 rows.
    let values: Vec<String> = (1000..1300)
        .map(|i| format!("({i}, 'bulk{i}', {i})"))
        .collect();
    up.exec(&format!(
        "INSERT INTO `{db}`.items (id, name, qty) VALUES {}",
        values.join(",")
    ))
    .await;
    up.exec(&format!(
        "UPDATE `{db}`.items SET qty = qty + 1 WHERE id >= 1000"
    ))
    .await;

    let target = position(&up).await;
    let progress = feed.wait_for(&target).await;
    assert!(progress.rows_applied > 600, "{progress:?}");
    assert!(progress.checkpoint.gtid.is_some(), "{progress:?}");

    assert_eq!(assert_same_table(&up, &down, &db, "types", "id").await, 3);
    assert_eq!(assert_same_table(&up, &down, &db, "items", "id").await, 306);
    assert_eq!(assert_same_table(&up, &down, &db, "uniq", "a, b").await, 2);
    assert_eq!(
        assert_same_table(&up, &down, &db, "renamed_b", "id").await,
        2
    );
    assert_eq!(
        down.tables(&db).await,
        vec!["items", "renamed_b", "types", "uniq"]
    );
    assert_eq!(
        down.query_one(&format!("SELECT name FROM `{db}`.items WHERE id = 0"))
            .await
            .as_deref(),
        Some("zero"),
        "an explicit 0 in an AUTO_INCREMENT column stays 0"
    );

    let (result, last) = feed.stop().await;
    result.expect("a stopped engine returns Ok");
    assert!(helpers::reached(&last.checkpoint, &target));
}

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

/// Rules keep one table out: neither its DDL nor its rows arrive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_exclude_tables() {
    let up = upstream().await;
    let down = system_server();
    let ddb = down.create_database("ferry_e").await;
    let db = ddb.name().to_owned();
    let rules = vec![
        format!("{db}.*"),
        format!("!{db}.secret*"),
        "other_db.*".to_owned(),
    ];
    let mut feed = Feed::start(spec(&up, &down, &rules, 2, 100), StartFrom::Now);
    let first = feed.wait_started().await;
    assert_eq!(first.rows_applied, 0);
    up.exec(&format!(
        "CREATE DATABASE `{db}`; CREATE DATABASE unrelated; USE `{db}`;
         CREATE TABLE public (id INT PRIMARY KEY, v TEXT);
         CREATE TABLE secret_keys (id INT PRIMARY KEY, v TEXT);
         CREATE TABLE unrelated.t (id INT PRIMARY KEY);
         START TRANSACTION;
           INSERT INTO public VALUES (1, 'p');
           INSERT INTO secret_keys VALUES (1, 's');
           INSERT INTO unrelated.t VALUES (1);
         COMMIT;
         UPDATE secret_keys SET v = 't';
         DROP TABLE secret_keys;
         INSERT INTO public VALUES (2, 'q');"
    ))
    .await;
    feed.wait_for(&position(&up).await).await;
    assert_same_table(&up, &down, &db, "public", "id").await;
    assert_eq!(down.tables(&db).await, vec!["public"]);
    assert_eq!(
        down.query_one(
            "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'unrelated'"
        )
        .await,
        None
    );
    feed.stop().await.0.expect("stopping returns Ok");
}

/// startTS: a TSO between two batches of writes replays only the second
/// batch; a TSO older than the oldest binlog is refused with the oldest
/// time available.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starts_from_a_past_tso() {
    let up = upstream().await;
    let down = system_server();
    let ddb = down.create_database("ferry_e").await;
    let db = ddb.name().to_owned();
    let ep = endpoint(&up);

    let too_old = tso::from_unix_ms(chrono::Utc::now().timestamp_millis() as u64 - 3_600_000);
    let err = precheck::resolve_start(&ep, too_old)
        .await
        .expect_err("an hour ago is before the server started");
    assert!(err.contains("older than the oldest binlog"), "{err}");
    assert!(err.contains("binlog.000001 starts at"), "{err}");

    let table = "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10))";
    up.exec(&format!("CREATE DATABASE `{db}`; USE `{db}`; {table}; INSERT INTO t VALUES (1, 'before'), (2, 'before')"))
        .await;
    down.exec(&format!("USE `{db}`; {table}")).await;
    // Binlog timestamps are in seconds: keep the batches in other seconds.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let start_tso = tso::from_unix_ms(chrono::Utc::now().timestamp_millis() as u64);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    up.exec(&format!(
        "USE `{db}`; INSERT INTO t VALUES (3, 'after'); UPDATE t SET v = 'changed' WHERE id = 1"
    ))
    .await;

    let resolved = precheck::resolve_start(&ep, start_tso)
        .await
        .expect("resolve_start");
    assert!(resolved.tso < start_tso);
    assert!(resolved.gtid.is_some(), "{resolved:?}");

    // Through the engine's own StartFrom::Tso.
    let mut feed = Feed::start(
        spec(&up, &down, &rules(&db), 2, 100),
        StartFrom::Tso(start_tso),
    );
    feed.wait_for(&position(&up).await).await;
    let rows = down
        .query(&format!(
            "SELECT CAST(id AS CHAR), v FROM `{db}`.t ORDER BY id"
        ))
        .await;
    let rows: Vec<(String, String)> = rows
        .into_iter()
        .map(|r| (r[0].clone().unwrap(), r[1].clone().unwrap()))
        .collect();
    assert_eq!(
        rows,
        vec![("1".into(), "changed".into()), ("3".into(), "after".into())],
        "only the changes after startTS (the update of row 1 brings its full image)"
    );
    let (result, last) = feed.stop().await;
    result.expect("stopping returns Ok");
    assert!(last.checkpoint.tso > start_tso);
}

/// The prechecks say precisely what is wrong.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prechecks_explain_failures() {
    helpers::init_tracing();
    let statement = MariaDb::start_with(MariaDbOptions {
        server_id: 2,
        binlog_format: "STATEMENT".into(),
        ..Default::default()
    })
    .await;
    let err = precheck::check_upstream(&endpoint(&statement))
        .await
        .expect_err("STATEMENT is refused");
    assert_eq!(
        err,
        "the upstream's binlog_format is STATEMENT; ferry needs binlog_format=ROW"
    );

    let minimal = MariaDb::start_with(MariaDbOptions {
        server_id: 3,
        extra_args: vec!["--binlog-row-metadata=MINIMAL".into()],
        ..Default::default()
    })
    .await;
    let err = precheck::check_upstream(&endpoint(&minimal))
        .await
        .expect_err("MINIMAL is refused");
    assert_eq!(
        err,
        "the upstream's binlog_row_metadata is MINIMAL; ferry needs binlog_row_metadata=FULL"
    );

    let up = upstream().await;
    precheck::check_upstream(&endpoint(&up))
        .await
        .expect("a ROW upstream passes");
    let down = system_server();
    precheck::check_downstream(&endpoint(&down))
        .await
        .expect("the downstream is writable");

    let mut closed = endpoint(&up);
    closed.port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let err = precheck::check_upstream(&closed)
        .await
        .expect_err("nothing listens there");
    assert!(
        err.starts_with(&format!(
            "cannot connect to the upstream root@127.0.0.1:{}",
            closed.port
        )),
        "{err}"
    );
    let err = precheck::check_downstream(&closed)
        .await
        .expect_err("nothing listens there");
    assert!(err.contains("cannot connect to the downstream"), "{err}");

    up.exec(
        "CREATE DATABASE app; USE app;
         CREATE TABLE with_pk (id INT PRIMARY KEY);
         CREATE TABLE with_unique (a INT NOT NULL, UNIQUE KEY (a));
         CREATE TABLE nullable_unique (a INT NULL, UNIQUE KEY (a));
         CREATE TABLE no_key (a INT, KEY (a));
         CREATE DATABASE other; CREATE TABLE other.no_key (a INT);",
    )
    .await;
    let filter = TableFilter::parse(&["app.*".to_owned()]).unwrap();
    let missing = precheck::tables_without_key(&endpoint(&up), &filter)
        .await
        .unwrap();
    assert_eq!(missing, vec!["app.no_key", "app.nullable_unique"]);

    let cp = precheck::current_position(&endpoint(&up)).await.unwrap();
    assert_eq!(cp.file, "binlog.000001");
    assert!(cp.position > 4);
    assert!(
        cp.gtid.as_deref().is_some_and(|g| g.starts_with("0-1-")),
        "{cp:?}"
    );
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

/// A crash (the engine dropped mid-stream, no clean stop) and a restart
/// from the last reported checkpoint converge: at-least-once delivery into
/// an idempotent sink.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_and_resume_converges() {
    let up = upstream().await;
    let down = system_server();
    let ddb = down.create_database("ferry_e").await;
    let db = ddb.name().to_owned();
    let table = "CREATE TABLE t (id INT PRIMARY KEY, v INT NOT NULL, w VARCHAR(20))";
    up.exec(&format!("CREATE DATABASE `{db}`; USE `{db}`; {table}"))
        .await;
    down.exec(&format!("USE `{db}`; {table}")).await;
    let start = position(&up).await;
    let mut feed = Feed::start(
        spec(&up, &down, &rules(&db), 4, 20),
        StartFrom::Checkpoint(start),
    );

    let writer = {
        let up = up.server().clone();
        let db = db.clone();
        tokio::spawn(async move {
            for i in 0..300u32 {
                up.exec(&format!(
                    "USE `{db}`; START TRANSACTION;
                     INSERT INTO t VALUES ({i}, 0, 'new');
                     UPDATE t SET v = v + 1 WHERE id % 7 = {} ;
                     DELETE FROM t WHERE id = {};
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
    feed.wait_for(&position(&up).await).await;
    assert!(assert_same_table(&up, &down, &db, "t", "id").await > 200);
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
    no_downstream.downstream.port = closed_port;
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

/// Replication throughput of a bulk load, printed (not asserted beyond
/// completing): `cargo test --test engine throughput -- --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throughput() {
    const ROWS: usize = 100_000;
    let up = upstream().await;
    let down = system_server();
    let ddb = down.create_database("ferry_e").await;
    let db = ddb.name().to_owned();
    let table =
        "CREATE TABLE t (id INT PRIMARY KEY, a VARCHAR(40), b BIGINT, c DOUBLE, d DATETIME(3))";
    up.exec(&format!("CREATE DATABASE `{db}`; USE `{db}`; {table}"))
        .await;
    down.exec(&format!("USE `{db}`; {table}")).await;
    let start = position(&up).await;
    for chunk in 0..(ROWS / 10_000) {
        let values: Vec<String> = (0..10_000)
            .map(|i| {
                let id = chunk * 10_000 + i;
                format!("({id}, 'row number {id} of the bulk load', {id}, {id}.5, '2024-01-01 00:00:00.123')")
            })
            .collect();
        up.exec(&format!("INSERT INTO `{db}`.t VALUES {}", values.join(",")))
            .await;
    }
    let target = position(&up).await;
    let started = Instant::now();
    let mut feed = Feed::start(
        spec(&up, &down, &rules(&db), 4, 2000),
        StartFrom::Checkpoint(start),
    );
    let progress = feed.wait_for(&target).await;
    let elapsed = started.elapsed();
    assert_eq!(progress.rows_applied, ROWS as u64);
    eprintln!(
        "throughput: {ROWS} rows in {:.2}s = {:.0} rows/s (4 appliers, 2000 rows per transaction)",
        elapsed.as_secs_f64(),
        ROWS as f64 / elapsed.as_secs_f64()
    );
    assert_same_table(&up, &down, &db, "t", "id").await;
    feed.stop().await.0.expect("stopping returns Ok");
}
