//! Rows of every type, DML and DDL, rules, throughput.

use std::time::Instant;

use ferry_tests::mariadb::system_server;
use ferry_worker::replication::engine::StartFrom;

use crate::helpers::{self, Feed, assert_same_table, position, rules, spec, upstream};

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
    // Every byte value, and a row of a few MB that needs a big packet.
    let all_bytes: String = (0..=255u8).map(|b| format!("{b:02X}")).collect();
    up.exec(&format!(
        "UPDATE `{db}`.types SET bl = UNHEX('{all_bytes}'), \
         lb = REPEAT(UNHEX('00FF27225C0A0D1A'), 300000), \
         l1 = UNHEX('E9E8FF00') WHERE id = 2"
    ))
    .await;
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
         DELETE FROM uniq WHERE a = 1;
         CREATE TABLE gen (id INT PRIMARY KEY, a INT, v INT AS (a * 2) VIRTUAL, p INT AS (a + 1) PERSISTENT);
         INSERT INTO gen (id, a) VALUES (1, 1), (2, 2);
         UPDATE gen SET a = 10 WHERE id = 2;
         CREATE TABLE nokey (a INT, b VARCHAR(10));
         INSERT INTO nokey VALUES (1, 'x'), (1, 'x'), (2, 'y'), (3, NULL);
         UPDATE nokey SET b = 'z' WHERE a = 2;
         DELETE FROM nokey WHERE a = 3;
         UPDATE nokey SET a = 5 WHERE a = 1 LIMIT 1;
         CREATE TABLE ctas (PRIMARY KEY (id)) SELECT id, name, qty * 2 AS dbl FROM items WHERE id < 7;
         CREATE TABLE swap (id INT PRIMARY KEY, u INT NOT NULL, UNIQUE KEY (u));
         INSERT INTO swap VALUES (1, 10), (2, 20), (3, 30);
         START TRANSACTION;
           UPDATE swap SET u = 99 WHERE id = 1;
           UPDATE swap SET u = 10 WHERE id = 2;
           UPDATE swap SET u = 20 WHERE id = 3;
           UPDATE swap SET u = 30 WHERE id = 1;
         COMMIT;"
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
    assert_eq!(assert_same_table(&up, &down, &db, "gen", "id").await, 2);
    assert_eq!(assert_same_table(&up, &down, &db, "nokey", "a, b").await, 3);
    assert_eq!(assert_same_table(&up, &down, &db, "swap", "id").await, 3);
    assert_eq!(assert_same_table(&up, &down, &db, "ctas", "id").await, 3);
    assert_eq!(
        down.tables(&db).await,
        vec![
            "ctas",
            "gen",
            "items",
            "nokey",
            "renamed_b",
            "swap",
            "types",
            "uniq"
        ]
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

/// The table map carries one signedness bit per numeric column; YEAR counts
/// as numeric there, so a YEAR (or BIT) column before an unsigned one must
/// not shift the bits of the columns after it: unsigned values past the
/// signed range and negative values arrive as they are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signedness_after_year_and_bit_columns() {
    let up = upstream().await;
    let down = system_server();
    let ddb = down.create_database("ferry_e").await;
    let db = ddb.name().to_owned();
    let table = format!(
        "CREATE TABLE `{db}`.signs (id INT PRIMARY KEY, y YEAR, b BIT(8), \
         big INT UNSIGNED, small TINYINT UNSIGNED, neg INT, d DECIMAL(6,2) UNSIGNED, \
         y2 YEAR, huge BIGINT UNSIGNED)"
    );
    up.exec(&format!("CREATE DATABASE `{db}`; {table}")).await;
    down.exec(&table).await;
    let mut feed = Feed::start(spec(&up, &down, &rules(&db), 2, 100), StartFrom::Now);
    feed.wait_started().await;
    up.exec(&format!(
        "INSERT INTO `{db}`.signs VALUES
           (1, 2024, b'11111111', 4000000000, 200, -5, 9999.99, 1901, 18446744073709551615),
           (2, 1999, b'00000001', 1, 1, 2147483647, 0.01, 2155, 9223372036854775808)"
    ))
    .await;
    feed.wait_for(&position(&up).await).await;
    assert_same_table(&up, &down, &db, "signs", "id").await;
    feed.stop().await.0.expect("stopping returns Ok");
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
    let row = |id: usize| {
        format!(
            "({id}, 'row number {id} of the bulk load', {id}, {id}.5, '2024-01-01 00:00:00.123')"
        )
    };
    let start = position(&up).await;
    for chunk in 0..(ROWS / 10_000) {
        let values: Vec<String> = (0..10_000).map(|i| row(chunk * 10_000 + i)).collect();
        up.exec(&format!("INSERT INTO `{db}`.t VALUES {}", values.join(",")))
            .await;
    }
    let target = position(&up).await;

    // The limit without ferry: the same rows written straight into the
    // downstream, one connection, 2000 rows per transaction.
    down.exec(&format!(
        "USE `{db}`; {}",
        table.replace("TABLE t", "TABLE raw")
    ))
    .await;
    let raw_started = Instant::now();
    for chunk in 0..(ROWS / 2000) {
        let values: Vec<String> = (0..2000).map(|i| row(chunk * 2000 + i)).collect();
        down.exec(&format!(
            "START TRANSACTION; REPLACE INTO `{db}`.raw VALUES {}; COMMIT",
            values.join(",")
        ))
        .await;
    }
    let raw = raw_started.elapsed();

    let started = Instant::now();
    let mut feed = Feed::start(
        spec(&up, &down, &rules(&db), 4, 2000),
        StartFrom::Checkpoint(start),
    );
    let progress = feed.wait_for(&target).await;
    let elapsed = started.elapsed();
    assert_eq!(progress.rows_applied, ROWS as u64);
    assert!(
        feed.reports as f64 <= elapsed.as_secs_f64() * 10.0 + 3.0,
        "{} progress reports in {elapsed:?}: more than 10 a second",
        feed.reports
    );
    eprintln!(
        "throughput: ferry replicated {ROWS} rows in {:.2}s = {:.0} rows/s (binlog to downstream, \
         4 appliers, 2000 rows per transaction); writing them directly took {:.2}s = {:.0} rows/s",
        elapsed.as_secs_f64(),
        ROWS as f64 / elapsed.as_secs_f64(),
        raw.as_secs_f64(),
        ROWS as f64 / raw.as_secs_f64(),
    );
    assert_same_table(&up, &down, &db, "t", "id").await;
    feed.stop().await.0.expect("stopping returns Ok");
}
