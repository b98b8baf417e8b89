//! Where messages go and that they all get there: dispatchers, a worker
//! killed mid-stream, a row too big for the topic, and what create refuses.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::{Duration, Instant},
};

use ferry_tests::{AppOptions, Backend};
use serde_json::{Value, json};

use crate::helpers::*;

const ROWS: i64 = 60;

fn has(events: &[Event], table: &str, kind: Kind, id: &str, v: &str) -> bool {
    events.iter().any(|e| {
        e.kind == kind
            && e.table == table
            && e.id() == Some(id)
            && e.data.get("v").and_then(|v| v.as_deref()) == Some(v)
    })
}

/// Every change the dispatcher test makes has arrived.
fn dispatched_all(events: &[Event]) -> bool {
    let ids_done = |table: &str| {
        (1..=ROWS).all(|id| {
            let id = id.to_string();
            has(events, table, Kind::Insert, &id, "0")
                && (id == "7" || has(events, table, Kind::Update, &id, "1"))
        })
    };
    ids_done("keyed")
        && ids_done("whole")
        && has(events, "keyed", Kind::Delete, "7", "1")
        && has(events, "keyed", Kind::Insert, "1000", "1")
        && has(events, "whole", Kind::Update, "7", "1")
        && events.iter().filter(|e| e.table == "nokey").count() >= 10
}

#[tokio::test]
async fn dispatchers_keep_a_key_or_a_table_in_one_partition() {
    let rig = Rig::with_worker().await;
    let db = format!("`{}`", rig.db);
    // Kafka needs no copy of the schema, and keyless tables are fine.
    rig.up(&format!("CREATE DATABASE {db}")).await;
    for table in ["keyed", "whole"] {
        rig.up(&format!(
            "CREATE TABLE {db}.{table} (id INT PRIMARY KEY, v INT)"
        ))
        .await;
    }
    rig.up(&format!("CREATE TABLE {db}.nokey (a INT, b VARCHAR(8))"))
        .await;
    let kafka_cluster = rig.register_kafka().await;
    let downstream = json!({
        "targetClusterId": kafka_cluster, "topicName": rig.topic, "partitions": 3,
        "replicationFactor": 1, "protocol": "canal-json", "maxBatchSize": 16,
        "dispatchers": [
            { "matcher": format!("{}.keyed", rig.db), "dispatcher": "index-value" },
            { "matcher": format!("{}.nokey", rig.db), "dispatcher": "rowid" },
            { "matcher": format!("{}.whole", rig.db), "dispatcher": "table" },
        ],
    });
    let id = rig.create(downstream).await;
    rig.wait_status(&id, "Normal").await;
    assert_eq!(rig.kafka.partitions_of(&rig.topic).await, Some(3));
    // On a registered cluster the topic's task is listed under it.
    let topic_tasks = rig
        .tasks(
            "topic.create",
            &rig.topic,
            &format!("&clusterId={kafka_cluster}"),
        )
        .await;
    assert_eq!(topic_tasks.len(), 1, "{topic_tasks:#?}");
    assert_eq!(topic_tasks[0]["status"], "succeeded", "{topic_tasks:#?}");

    for table in ["keyed", "whole"] {
        for chunk in (1..=ROWS).collect::<Vec<_>>().chunks(20) {
            let values: Vec<String> = chunk.iter().map(|i| format!("({i}, 0)")).collect();
            rig.up(&format!(
                "INSERT INTO {db}.{table} VALUES {}",
                values.join(",")
            ))
            .await;
        }
    }
    let nokey: Vec<String> = (0..10).map(|i| format!("({i}, 'r{i}')")).collect();
    rig.up(&format!(
        "INSERT INTO {db}.nokey VALUES {}",
        nokey.join(",")
    ))
    .await;
    rig.up(&format!("UPDATE {db}.keyed SET v = 1")).await;
    rig.up(&format!("UPDATE {db}.whole SET v = 1")).await;
    // A key change under index-value: a delete of 7 and an insert of 1000.
    rig.up(&format!("UPDATE {db}.keyed SET id = 1000 WHERE id = 7"))
        .await;

    let events = rig.events_until(Protocol::CanalJson, dispatched_all).await;
    let context = || show(&events, 60);
    assert!(dispatched_all(&events), "missing changes:\n{}", context());
    let rows: Vec<&Event> = events.iter().filter(|e| e.kind != Kind::Ddl).collect();

    // index-value: each key in one partition, the keys over several.
    let mut by_key: BTreeMap<&str, BTreeSet<i32>> = BTreeMap::new();
    for e in rows.iter().filter(|e| e.table == "keyed") {
        by_key
            .entry(e.id().expect("keyed rows have an id"))
            .or_default()
            .insert(e.partition);
    }
    assert!(
        by_key.values().all(|p| p.len() == 1),
        "a key's changes share a partition: {by_key:?}"
    );
    let used: BTreeSet<i32> = by_key.values().flatten().copied().collect();
    assert!(used.len() > 1, "keys spread over partitions: {by_key:?}");
    // ... and in order there: insert, update (and for 7, the delete).
    for id in (1..=ROWS).map(|i| i.to_string()) {
        let offset = |kind: Kind| {
            rows.iter()
                .find(|e| e.table == "keyed" && e.kind == kind && e.id() == Some(id.as_str()))
                .map(|e| e.offset)
        };
        let (insert, update) = (offset(Kind::Insert), offset(Kind::Update));
        assert!(
            insert < update,
            "key {id}: insert before update:\n{}",
            context()
        );
        if id == "7" {
            assert!(update < offset(Kind::Delete), "key 7: update before delete");
        }
    }
    assert!(
        !rows.iter().any(|e| e.table == "keyed"
            && e.kind == Kind::Update
            && (e.id() == Some("1000")
                || e.old
                    .as_ref()
                    .and_then(|o| o.get("id"))
                    .is_some_and(|old| old.as_deref() != e.id()))),
        "a key change under index-value is a delete and an insert, not an update:\n{}",
        context()
    );

    // table (and rowid without a key): the whole table in one partition.
    for table in ["whole", "nokey"] {
        let partitions: BTreeSet<i32> = rows
            .iter()
            .filter(|e| e.table == table)
            .map(|e| e.partition)
            .collect();
        assert_eq!(
            partitions.len(),
            1,
            "{table} is in one partition: {partitions:?}"
        );
    }
    let keyless: BTreeSet<&str> = rows
        .iter()
        .filter(|e| e.table == "nokey")
        .filter_map(|e| e.data.get("b").and_then(|b| b.as_deref()))
        .collect();
    assert_eq!(keyless.len(), 10, "every keyless row arrived: {keyless:?}");
}

#[tokio::test]
async fn a_killed_worker_loses_no_message() {
    let rig = Rig::start(AppOptions::new(Backend::Sqlite).without_worker()).await;
    let fast = [("FERRY_CHANGEFEED__LEASE_SECONDS", "3")];
    let mut first = rig.app.start_worker("first", &fast);
    let db = format!("`{}`", rig.db);
    rig.up(&format!("CREATE DATABASE {db}")).await;
    rig.up(&format!(
        "CREATE TABLE {db}.load (id INT PRIMARY KEY, v VARCHAR(32))"
    ))
    .await;
    let id = rig.create(rig.downstream("default", json!({}))).await;
    rig.wait_status(&id, "Normal").await;
    let writer = rig.upstream.server().spawn_inserts(
        &format!("{db}.load"),
        40,
        50,
        Duration::from_millis(100),
    );
    // Kill the first worker once it has published part of the stream.
    let published = rig
        .kafka
        .consume_all(&rig.topic, 100, Duration::from_secs(30))
        .await;
    first.kill();
    assert!(
        published.len() >= 100 && !writer.is_finished(),
        "the kill is mid-stream: {} messages published, writer finished: {}",
        published.len(),
        writer.is_finished()
    );
    let _second = rig.app.start_worker("second", &fast);
    writer.await.expect("writer");

    let ids = |events: &[Event]| -> BTreeSet<i64> {
        events
            .iter()
            .filter(|e| e.kind == Kind::Insert && e.table == "load")
            .filter_map(|e| e.id().and_then(|id| id.parse().ok()))
            .collect()
    };
    let events = rig
        .events_until(Protocol::Open, move |events| ids(events).len() == 2000)
        .await;
    let seen = ids(&events);
    let lost: Vec<i64> = (0..2000).filter(|i| !seen.contains(i)).collect();
    assert!(
        lost.is_empty(),
        "{} of 2000 rows never reached the topic (after {} messages), e.g. {:?}; changefeed: {}",
        lost.len(),
        events.len(),
        &lost[..lost.len().min(20)],
        rig.detail(&id).await
    );
    assert_eq!(rig.detail(&id).await["status"], "Normal");
}

#[tokio::test]
async fn a_row_too_big_for_the_topic_fails_the_changefeed() {
    let rig = Rig::with_worker().await;
    let db = format!("`{}`", rig.db);
    rig.up(&format!("CREATE DATABASE {db}")).await;
    rig.up(&format!(
        "CREATE TABLE {db}.big (id INT PRIMARY KEY, body TEXT)"
    ))
    .await;
    let id = rig
        .create(rig.downstream("maxwell", json!({ "maxMessageBytes": 400 })))
        .await;
    rig.wait_status(&id, "Normal").await;
    rig.up(&format!("INSERT INTO {db}.big VALUES (1, 'small')"))
        .await;
    let small = |events: &[Event]| events.iter().any(|e| e.id() == Some("1"));
    let events = rig.events_until(Protocol::Maxwell, small).await;
    assert!(small(&events), "a small row fits: {}", show(&events, 10));

    rig.up(&format!(
        "INSERT INTO {db}.big VALUES (424242, REPEAT('x', 2000))"
    ))
    .await;
    rig.up(&format!("INSERT INTO {db}.big VALUES (3, 'after')"))
        .await;
    let detail = rig.wait_status(&id, "Failed").await;
    let message = detail["errorMessage"].as_str().unwrap_or_default();
    for part in ["big", rig.db.as_str(), "key columns id", rig.topic.as_str()] {
        assert!(
            message.contains(part),
            "the error names the table, its key columns and the topic (`{part}`): {detail}"
        );
    }
    // Row values stay out of stored errors and logs (issue #16, item 5).
    assert!(
        !message.contains("424242"),
        "the error shows no value of the row: {detail}"
    );
    assert!(
        !rig.app.api.output().contains("424242"),
        "ferry's logs show no value of the row"
    );
    // Nothing after the big row was sent: skipping it would lose it.
    let events = rig
        .events_for(Protocol::Maxwell, Duration::from_secs(3))
        .await;
    assert!(
        !events
            .iter()
            .any(|e| matches!(e.id(), Some("424242" | "3"))),
        "rows at or after the oversized one are not on the topic:\n{}",
        show(&events, 20)
    );
}

#[tokio::test]
async fn bad_kafka_downstreams_are_refused_at_create() {
    let rig = Rig::with_worker().await;
    let ok = rig.downstream("canal-json", json!({}));
    let with = |extra: Value| {
        let mut d = ok.clone();
        merge(&mut d, extra);
        rig.body(d)
    };
    let msg = rig
        .create_error(&with(json!({ "protocol": "avro" })), 400)
        .await;
    assert!(msg.contains("schema registry"), "{msg}");
    let msg = rig
        .create_error(&with(json!({ "protocol": "canal" })), 400)
        .await;
    assert!(msg.contains("canal-json"), "{msg}");
    let bad_dispatcher = json!({ "dispatchers": [{ "matcher": "*.*", "dispatcher": "columns" }] });
    let msg = rig.create_error(&with(bad_dispatcher), 400).await;
    assert!(
        msg.contains("dispatcher") && msg.contains("columns"),
        "{msg}"
    );
    let mut no_topic = ok.clone();
    no_topic.as_object_mut().unwrap().remove("topicName");
    let msg = rig.create_error(&rig.body(no_topic), 400).await;
    assert!(msg.contains("topicName"), "{msg}");

    let started = Instant::now();
    let msg = rig.create_error(&with(json!({ "port": 1 })), 400).await;
    assert!(
        msg.contains("downstream") && msg.to_lowercase().contains("kafka"),
        "{msg} (after {:?})",
        started.elapsed()
    );

    let list = rig
        .app
        .get(&format!(
            "/api/v1/changefeeds/?clusterId={}",
            rig.cluster_id
        ))
        .await
        .expect(200);
    assert_eq!(
        list["page"]["total"], 0,
        "refused creates leave nothing: {list}"
    );
    assert_eq!(
        rig.kafka.partitions_of(&rig.topic).await,
        None,
        "no topic was created for a refused changefeed"
    );
}

#[tokio::test]
async fn an_existing_topic_with_too_few_partitions_is_refused() {
    let rig = Rig::with_worker().await;
    rig.kafka.create_topic(&rig.topic, 1).await;
    let msg = rig
        .create_error(
            &rig.body(rig.downstream("maxwell", json!({ "partitions": 3 }))),
            400,
        )
        .await;
    assert!(
        msg.contains(&rig.topic) && msg.contains("partitions"),
        "{msg}"
    );
    // Asking for what it has is fine, and the topic is used as it is.
    let id = rig
        .create(rig.downstream("maxwell", json!({ "partitions": 1 })))
        .await;
    rig.wait_status(&id, "Normal").await;
    assert_eq!(rig.kafka.partitions_of(&rig.topic).await, Some(1));
    assert!(
        rig.tasks("topic.create", &rig.topic, "").await.is_empty(),
        "an existing topic needs no topic task"
    );
    let db = format!("`{}`", rig.db);
    rig.up(&format!("CREATE DATABASE {db}")).await;
    rig.up(&format!("CREATE TABLE {db}.t (id INT PRIMARY KEY)"))
        .await;
    rig.up(&format!("INSERT INTO {db}.t VALUES (1)")).await;
    let arrived = |events: &[Event]| {
        events
            .iter()
            .any(|e| e.kind == Kind::Insert && e.id() == Some("1"))
    };
    let events = rig.events_until(Protocol::Maxwell, arrived).await;
    assert!(arrived(&events), "{}", show(&events, 10));
}
