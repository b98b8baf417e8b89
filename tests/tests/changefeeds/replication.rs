//! Real replication: the downstream ends equal to the upstream, row by row.

use std::time::Duration;

use ferry_tests::{AppOptions, Backend, eventually};
use serde_json::json;

use crate::helpers::*;

const TYPES_TABLE: &str = "CREATE TABLE {db}.types (
    id BIGINT UNSIGNED PRIMARY KEY,
    amount DECIMAL(20,6),
    at DATETIME(3),
    doc JSON,
    note TEXT CHARACTER SET utf8mb4,
    small TINYINT UNSIGNED,
    raw BINARY(4),
    blob_col VARBINARY(64),
    ratio DOUBLE,
    kind ENUM('a','b','c'),
    day DATE,
    maybe INT NULL
)";

#[tokio::test]
async fn replicates_dml_ddl_and_types_exactly() {
    let rig = Rig::with_worker().await;
    let id = rig.create(json!({})).await;
    rig.wait_status(&id, "Normal").await;
    let db = format!("`{}`", rig.db);
    // Created after the changefeed started: the DDL itself is replicated.
    rig.up(&format!("CREATE DATABASE {db}")).await;
    rig.up(&format!(
        "CREATE TABLE {db}.items (id INT PRIMARY KEY, name VARCHAR(64), qty INT)"
    ))
    .await;
    rig.up(&TYPES_TABLE.replace("{db}", &db)).await;
    for i in 0..50 {
        rig.up(&format!(
            "INSERT INTO {db}.items VALUES ({i}, 'item-{i}', {i})"
        ))
        .await;
    }
    rig.up(&format!(
        "UPDATE {db}.items SET qty = qty * 10 WHERE id < 20"
    ))
    .await;
    rig.up(&format!("DELETE FROM {db}.items WHERE id >= 45"))
        .await;
    rig.up(&format!(
        "BEGIN; INSERT INTO {db}.items VALUES (100, 'tx', 1); UPDATE {db}.items SET name = 'in-tx' WHERE id = 1; DELETE FROM {db}.items WHERE id = 2; COMMIT"
    ))
    .await;
    rig.up(&format!(
        "BEGIN; INSERT INTO {db}.items VALUES (200, 'rolled back', 1); ROLLBACK"
    ))
    .await;
    rig.up(&format!(
        "INSERT INTO {db}.types VALUES
         (18446744073709551615, 12345678901234.123456, '2026-11-23 10:11:12.345', '{{\"k\": [1, 2, \"x\"]}}', 'héllo 🚀', 255, 0x00010200, 0xDEADBEEF00, 3.141592653589793, 'b', '2026-02-28', NULL),
         (1, -0.000001, '1970-01-02 00:00:00.000', 'null', '', 0, 0x00000000, X'', -1e300, 'a', '1000-01-01', 7)"
    ))
    .await;
    rig.up(&format!(
        "UPDATE {db}.types SET maybe = NULL, note = 'changed' WHERE id = 1"
    ))
    .await;
    // DDL: add a column, a new table, drop a table.
    rig.up(&format!(
        "ALTER TABLE {db}.items ADD COLUMN tag VARCHAR(16) NULL DEFAULT 'none'"
    ))
    .await;
    rig.up(&format!("UPDATE {db}.items SET tag = 'new' WHERE id = 3"))
        .await;
    rig.up(&format!("CREATE TABLE {db}.doomed (id INT PRIMARY KEY)"))
        .await;
    rig.up(&format!("INSERT INTO {db}.doomed VALUES (1)")).await;
    rig.up(&format!("DROP TABLE {db}.doomed")).await;
    rig.sync().await;

    rig.assert_equal("items", "id").await;
    rig.assert_equal("types", "id").await;
    let tables = rig.downstream.tables(&rig.db).await;
    assert!(
        !tables.contains(&"doomed".to_owned()),
        "the dropped table is gone downstream: {tables:?}"
    );
    let rolled_back = rig
        .downstream
        .query_one(&format!(
            "SELECT CAST(COUNT(*) AS CHAR) FROM {db}.items WHERE id = 200"
        ))
        .await;
    assert_eq!(rolled_back.as_deref(), Some("0"));

    // The engine reports its checkpoint shortly after the downstream commit
    // and the supervisor persists it after that, so the rows can be visible
    // downstream a moment before the checkpoint shows them.
    let ts = |detail: &serde_json::Value, field: &str| -> u64 {
        detail[field].as_str().unwrap().parse().unwrap()
    };
    let detail = eventually("the checkpoint to advance", SYNC_TIMEOUT, || async {
        let detail = rig.detail(&id).await;
        if ts(&detail, "downstreamSyncTs") > ts(&detail, "startTS") {
            Ok(detail)
        } else {
            Err(detail)
        }
    })
    .await;
    let sync = ts(&detail, "downstreamSyncTs");
    let start = ts(&detail, "startTS");
    let upstream = ts(&detail, "upstreamUpdateTs");
    assert!(sync > start, "the checkpoint advanced: {detail}");
    assert!(
        upstream >= sync,
        "upstream is at or past the checkpoint: {detail}"
    );
}

#[tokio::test]
async fn pause_stops_the_downstream_and_resume_catches_up() {
    let rig = Rig::with_worker().await;
    let db = format!("`{}`", rig.db);
    rig.both_exec(&format!("CREATE DATABASE {db}")).await;
    rig.both_exec(&format!("CREATE TABLE {db}.t (id INT PRIMARY KEY, v INT)"))
        .await;
    let id = rig.create(json!({})).await;
    rig.wait_status(&id, "Normal").await;
    rig.up(&format!("INSERT INTO {db}.t VALUES (1, 1)")).await;
    rig.sync().await;

    let paused = rig.operate(&id, "pause").await;
    assert_eq!(paused["data"]["status"], "Normal");
    assert_eq!(rig.detail(&id).await["status"], "Stopped");
    for i in 2..=20 {
        rig.up(&format!("INSERT INTO {db}.t VALUES ({i}, {i})"))
            .await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let count = rig
        .downstream
        .query_one(&format!("SELECT CAST(COUNT(*) AS CHAR) FROM {db}.t"))
        .await;
    assert_eq!(
        count.as_deref(),
        Some("1"),
        "nothing replicated while paused"
    );

    rig.operate(&id, "resume").await;
    rig.sync().await;
    rig.assert_equal("t", "id").await;
}

#[tokio::test]
async fn updating_rules_to_exclude_a_table_stops_its_changes() {
    let rig = Rig::with_worker().await;
    let db = format!("`{}`", rig.db);
    rig.both_exec(&format!("CREATE DATABASE {db}")).await;
    rig.both_exec(&format!("CREATE TABLE {db}.kept (id INT PRIMARY KEY)"))
        .await;
    rig.both_exec(&format!("CREATE TABLE {db}.dropped (id INT PRIMARY KEY)"))
        .await;
    let id = rig.create(json!({})).await;
    rig.wait_status(&id, "Normal").await;
    rig.up(&format!("INSERT INTO {db}.kept VALUES (1)")).await;
    rig.up(&format!("INSERT INTO {db}.dropped VALUES (1)"))
        .await;
    rig.sync().await;

    let body = json!({ "name": "narrower", "rules": [format!("{}.*", rig.db), format!("!{}.dropped", rig.db)] });
    let updated = rig
        .app
        .post(&format!("/api/v1/changefeeds/{id}/update"), &body)
        .await
        .expect(200);
    assert_eq!(updated["data"]["status"], "Normal", "{updated}");
    let detail = rig.wait_status(&id, "Normal").await;
    assert_eq!(detail["name"], "narrower");
    rig.up(&format!("INSERT INTO {db}.kept VALUES (2)")).await;
    rig.up(&format!("INSERT INTO {db}.dropped VALUES (2)"))
        .await;
    rig.sync().await;
    rig.assert_equal("kept", "id").await;
    let dropped = rig
        .downstream
        .query_one(&format!("SELECT CAST(COUNT(*) AS CHAR) FROM {db}.dropped"))
        .await;
    assert_eq!(
        dropped.as_deref(),
        Some("1"),
        "changes after the update are not replicated"
    );
}

#[tokio::test]
async fn start_ts_in_the_past_replays_from_there() {
    let rig = Rig::with_worker().await;
    let db = format!("`{}`", rig.db);
    rig.up(&format!("CREATE DATABASE {db}")).await;
    rig.up(&format!("CREATE TABLE {db}.early (id INT PRIMARY KEY)"))
        .await;
    // Binlog timestamps have one-second resolution.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let start_ms = chrono::Utc::now().timestamp_millis() as u64;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    rig.up(&format!("INSERT INTO {db}.early VALUES (1), (2), (3)"))
        .await;
    rig.downstream.exec(&format!("CREATE DATABASE {db}")).await;
    rig.downstream
        .exec(&format!("CREATE TABLE {db}.early (id INT PRIMARY KEY)"))
        .await;

    let id = rig
        .create(json!({ "startTS": (start_ms << 18).to_string() }))
        .await;
    rig.wait_status(&id, "Normal").await;
    rig.sync().await;
    rig.assert_equal("early", "id").await;

    let too_old = json!({
        "clusterId": rig.cluster_id, "name": "old", "downstreamType": "mysql",
        "downstream": rig.downstream_object(), "startTS": ((1_000_000_000_000u64) << 18).to_string(),
    });
    let reply = rig
        .app
        .post("/api/v1/changefeeds/", &too_old)
        .await
        .expect(400);
    assert!(
        reply["message"].as_str().unwrap().contains("startTS"),
        "{reply}"
    );
}

#[tokio::test]
async fn a_killed_worker_loses_no_row() {
    let rig = Rig::start(AppOptions::new(Backend::Sqlite).without_worker()).await;
    let fast = [("FERRY_CHANGEFEED__LEASE_SECONDS", "3")];
    let mut first = rig.app.start_worker("first", &fast);
    let db = format!("`{}`", rig.db);
    rig.both_exec(&format!("CREATE DATABASE {db}")).await;
    rig.both_exec(&format!(
        "CREATE TABLE {db}.load (id INT PRIMARY KEY, v VARCHAR(32))"
    ))
    .await;
    let id = rig.create(json!({})).await;
    eventually(
        "the first worker to own the changefeed",
        SYNC_TIMEOUT,
        || async {
            let d = rig.detail(&id).await;
            if d["status"] == "Normal" {
                Ok(())
            } else {
                Err(d)
            }
        },
    )
    .await;
    let writer = rig.upstream.server().spawn_inserts(
        &format!("{db}.load"),
        40,
        50,
        Duration::from_millis(50),
    );
    tokio::time::sleep(Duration::from_millis(700)).await;
    first.kill();
    let _second = rig.app.start_worker("second", &fast);
    writer.await.expect("writer");
    rig.sync().await;
    rig.assert_equal("load", "id").await;
    let count = rig
        .downstream
        .query_one(&format!("SELECT CAST(COUNT(*) AS CHAR) FROM {db}.load"))
        .await;
    assert_eq!(count.as_deref(), Some("2000"));
}
