//! Each protocol end to end: DML, a transaction and DDL from a real binlog
//! arrive on the topic ferry created, decodable, complete and in order.

use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn canal_json_carries_every_change() {
    carries_every_change(Protocol::CanalJson, "canal-json").await;
}

#[tokio::test]
async fn maxwell_carries_every_change() {
    carries_every_change(Protocol::Maxwell, "maxwell").await;
}

#[tokio::test]
async fn open_protocol_carries_every_change() {
    carries_every_change(Protocol::Open, "open-protocol").await;
}

/// The DDL the test runs: what its SQL starts with, and the type each
/// protocol gives it (canal-json, maxwell, open protocol).
struct ExpectedDdl {
    sql_prefix: &'static str,
    table: &'static str,
    types: [&'static [&'static str]; 3],
}

const DDLS: [ExpectedDdl; 3] = [
    ExpectedDdl {
        sql_prefix: "CREATE DATABASE",
        table: "",
        types: [&["QUERY"], &["database-create"], &["1"]],
    },
    ExpectedDdl {
        sql_prefix: "CREATE TABLE",
        table: "items",
        types: [&["CREATE"], &["table-create"], &["3"]],
    },
    // TiDB's action for ADD COLUMN is 5; ferry cannot always tell what an
    // ALTER does and may report it as a multi-schema change (61).
    ExpectedDdl {
        sql_prefix: "ALTER TABLE",
        table: "items",
        types: [&["ALTER"], &["table-alter"], &["5", "61"]],
    },
];

fn protocol_index(protocol: Protocol) -> usize {
    match protocol {
        Protocol::CanalJson => 0,
        Protocol::Maxwell => 1,
        Protocol::Open => 2,
    }
}

fn is_ddl(event: &Event, protocol: Protocol, db: &str, ddl: &ExpectedDdl) -> bool {
    event.kind == Kind::Ddl
        && event.schema == db
        && event.table == ddl.table
        && event
            .sql
            .trim_start()
            .to_ascii_uppercase()
            .starts_with(ddl.sql_prefix)
        && ddl.types[protocol_index(protocol)].contains(&event.ddl_type.as_str())
}

/// One expected row change: kind, after (or deleted) image, previous image.
type Change = (Kind, Row, Option<Row>);

/// What is still missing from `events`: changes not seen, and DDL not seen
/// in every partition.
fn missing(protocol: Protocol, db: &str, changes: &[Change], events: &[Event]) -> Vec<String> {
    let mut missing: Vec<String> = changes
        .iter()
        .filter(|(kind, data, before)| {
            !events
                .iter()
                .any(|e| is_change(e, db, "items", *kind, data, before.as_ref()))
        })
        .map(|c| format!("{c:?}"))
        .collect();
    for ddl in &DDLS {
        for partition in 0..3 {
            if !events
                .iter()
                .any(|e| e.partition == partition && is_ddl(e, protocol, db, ddl))
            {
                missing.push(format!("{} in partition {partition}", ddl.sql_prefix));
            }
        }
    }
    missing
}

async fn carries_every_change(protocol: Protocol, name: &str) {
    let rig = Rig::with_worker().await;
    let started_ms = now_ms();
    let id = rig.create(rig.downstream(name, json!({}))).await;
    let detail = rig.wait_status(&id, "Normal").await;
    assert_eq!(detail["downstreamType"], "kafka", "{detail}");
    assert_eq!(
        rig.kafka.partitions_of(&rig.topic).await,
        Some(3),
        "ferry created the topic with the partitions asked"
    );
    // The topic came from a topic task of the caller who created the
    // changefeed, tied to the same request.
    let topic_tasks = rig.tasks("topic.create", &rig.topic, "").await;
    assert_eq!(topic_tasks.len(), 1, "{topic_tasks:#?}");
    let topic_task = &topic_tasks[0];
    assert_eq!(topic_task["status"], "succeeded", "{topic_task}");
    assert_eq!(topic_task["payload"]["changefeedId"], id, "{topic_task}");
    assert_eq!(
        topic_task["payload"]["address"]["bootstrapServers"],
        rig.kafka.bootstrap(),
        "{topic_task}"
    );
    let create_task = &rig.tasks("changefeed.create", &id, "").await[0];
    for field in ["createdBy", "requestId"] {
        assert!(!create_task[field].is_null(), "{create_task}");
        assert_eq!(topic_task[field], create_task[field], "{field}");
    }

    let db = format!("`{}`", rig.db);
    rig.up(&format!("CREATE DATABASE {db}")).await;
    rig.up(&format!(
        "CREATE TABLE {db}.items (id INT PRIMARY KEY, name VARCHAR(32) NOT NULL, \
         price DECIMAL(10,2), at DATETIME, note VARCHAR(32) NULL)"
    ))
    .await;
    rig.up(&format!(
        "INSERT INTO {db}.items VALUES (1, 'one', 1.50, '2024-01-02 03:04:05', NULL)"
    ))
    .await;
    rig.up(&format!(
        "INSERT INTO {db}.items VALUES (2, 'two', 2.00, '2024-02-03 04:05:06', 'n2'), \
         (3, 'three', 3.25, '2024-03-04 05:06:07', 'n3')"
    ))
    .await;
    rig.up(&format!(
        "UPDATE {db}.items SET name = 'uno', note = 'set' WHERE id = 1"
    ))
    .await;
    rig.up(&format!("DELETE FROM {db}.items WHERE id = 2"))
        .await;
    rig.up(&format!(
        "BEGIN; INSERT INTO {db}.items VALUES (4, 'four', 4.00, '2024-04-05 06:07:08', NULL); \
         UPDATE {db}.items SET price = 9.99, note = NULL WHERE id = 3; \
         DELETE FROM {db}.items WHERE id = 1; COMMIT"
    ))
    .await;
    rig.up(&format!(
        "ALTER TABLE {db}.items ADD COLUMN tag VARCHAR(8) NULL"
    ))
    .await;
    rig.up(&format!(
        "INSERT INTO {db}.items VALUES (5, 'five', 5.55, '2024-05-06 07:08:09', 'n5', 'new')"
    ))
    .await;

    let r1 = row(&[
        ("id", Some("1")),
        ("name", Some("one")),
        ("price", Some("1.50")),
        ("at", Some("2024-01-02 03:04:05")),
        ("note", None),
    ]);
    let r1b = row(&[
        ("id", Some("1")),
        ("name", Some("uno")),
        ("price", Some("1.50")),
        ("at", Some("2024-01-02 03:04:05")),
        ("note", Some("set")),
    ]);
    let r2 = row(&[
        ("id", Some("2")),
        ("name", Some("two")),
        ("price", Some("2.00")),
        ("at", Some("2024-02-03 04:05:06")),
        ("note", Some("n2")),
    ]);
    let r3 = row(&[
        ("id", Some("3")),
        ("name", Some("three")),
        ("price", Some("3.25")),
        ("at", Some("2024-03-04 05:06:07")),
        ("note", Some("n3")),
    ]);
    let r3b = row(&[
        ("id", Some("3")),
        ("name", Some("three")),
        ("price", Some("9.99")),
        ("at", Some("2024-03-04 05:06:07")),
        ("note", None),
    ]);
    let r4 = row(&[
        ("id", Some("4")),
        ("name", Some("four")),
        ("price", Some("4.00")),
        ("at", Some("2024-04-05 06:07:08")),
        ("note", None),
    ]);
    let r5 = row(&[
        ("id", Some("5")),
        ("name", Some("five")),
        ("price", Some("5.55")),
        ("at", Some("2024-05-06 07:08:09")),
        ("note", Some("n5")),
        ("tag", Some("new")),
    ]);
    let changes: Vec<Change> = vec![
        (Kind::Insert, r1.clone(), None),
        (Kind::Insert, r2.clone(), None),
        (Kind::Insert, r3.clone(), None),
        (Kind::Update, r1b.clone(), Some(r1.clone())),
        (Kind::Delete, r2.clone(), None),
        (Kind::Insert, r4.clone(), None),
        (Kind::Update, r3b.clone(), Some(r3.clone())),
        (Kind::Delete, r1b.clone(), None),
        (Kind::Insert, r5.clone(), None),
    ];

    let db_name = rig.db.clone();
    let expected = changes.clone();
    let events = rig
        .events_until(protocol, move |events| {
            missing(protocol, &db_name, &expected, events).is_empty()
        })
        .await;
    let still_missing = missing(protocol, &rig.db, &changes, &events);
    assert!(
        still_missing.is_empty(),
        "{protocol:?}: missing {still_missing:#?}\nfrom the topic:\n{}",
        show(&events, 80)
    );

    // The first message of each change, in the order the changes were made.
    let first = |c: &Change| {
        events
            .iter()
            .find(|e| is_change(e, &rig.db, "items", c.0, &c.1, c.2.as_ref()))
            .unwrap()
    };
    let seen: Vec<&Event> = changes.iter().map(first).collect();
    let context = || show(&events, 80);

    // Default dispatcher: the whole table in one partition, so every key's
    // changes (id 1: insert, update, delete) in commit order.
    let partition = seen[0].partition;
    assert!(
        events
            .iter()
            .filter(|e| e.kind != Kind::Ddl)
            .all(|e| e.partition == partition),
        "{protocol:?}: a table's rows are in one partition:\n{}",
        context()
    );
    assert!(
        seen.windows(2).all(|w| w[0].offset < w[1].offset),
        "{protocol:?}: changes arrive in commit order:\n{}",
        context()
    );
    // DDL sits between the changes before and after it in that partition.
    let ddl_offset = |ddl: &ExpectedDdl| {
        events
            .iter()
            .find(|e| e.partition == partition && is_ddl(e, protocol, &rig.db, ddl))
            .unwrap()
            .offset
    };
    assert!(
        ddl_offset(&DDLS[0]) < ddl_offset(&DDLS[1]) && ddl_offset(&DDLS[1]) < seen[0].offset,
        "{protocol:?}: CREATE DATABASE and CREATE TABLE come before the first row:\n{}",
        context()
    );
    let alter = ddl_offset(&DDLS[2]);
    assert!(
        seen[7].offset < alter && alter < seen[8].offset,
        "{protocol:?}: the ALTER comes between the rows before and after it:\n{}",
        context()
    );

    // The transaction's three changes carry one commit; commit times are
    // the upstream's, in the protocol's unit.
    assert!(
        seen[5].commit == seen[6].commit && seen[6].commit == seen[7].commit,
        "{protocol:?}: one transaction, one commit ts: {:?}",
        [seen[5].commit, seen[6].commit, seen[7].commit]
    );
    // canal-json's `es` is in milliseconds of a binlog with one-second
    // resolution; the others carry the whole TSO, unique per transaction.
    if protocol != Protocol::CanalJson {
        assert_ne!(
            seen[4].commit, seen[5].commit,
            "{protocol:?}: separate transactions have separate commit ts"
        );
    }
    let upper = now_ms() + 5_000;
    for e in &seen {
        assert!(
            e.commit_ms + 2_000 >= started_ms && e.commit_ms <= upper,
            "{protocol:?}: commit time {} ms is not between the test's start {started_ms} and now: {:?}",
            e.commit_ms,
            e.raw
        );
    }

    // Protocol specifics: key columns are marked.
    for e in &seen {
        match protocol {
            Protocol::CanalJson => {
                assert_eq!(e.raw["pkNames"], json!(["id"]), "{}", e.raw);
                assert_eq!(e.raw["isDdl"], false, "{}", e.raw);
                assert!(
                    e.raw["mysqlType"]["price"]
                        .as_str()
                        .is_some_and(|t| t.starts_with("decimal")),
                    "{}",
                    e.raw
                );
            }
            Protocol::Open => {
                let image = if e.kind == Kind::Delete { "d" } else { "u" };
                assert_eq!(
                    e.raw[image]["id"]["h"], true,
                    "the key column is the handle: {}",
                    e.raw
                );
                assert_ne!(e.raw[image]["name"]["h"], true, "{}", e.raw);
            }
            Protocol::Maxwell => {
                assert!(
                    e.raw["data"]["id"].is_number() || e.raw["old"]["id"].is_number(),
                    "ints are JSON numbers: {}",
                    e.raw
                );
            }
        }
    }
}
