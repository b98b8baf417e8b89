//! Replication safety (issue #16, items 1 and 5): a DDL from the upstream
//! runs downstream as the one statement the upstream ran, and errors show
//! names, never row values.

use ferry_tests::eventually;
use serde_json::json;

use crate::helpers::*;

/// The statement: under NO_BACKSLASH_ESCAPES the comment is `x\` and
/// the rest is the CONNECTION string. Replayed under the sink's own SQL mode
/// and as a multi-statement query, it dropped a database downstream that no
/// rule replicates.
#[tokio::test]
async fn a_ddl_runs_downstream_as_one_statement_under_its_sql_mode() {
    let rig = Rig::with_worker().await;
    let victim = format!(
        "victim_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    );
    rig.downstream
        .exec(&format!(
            "CREATE DATABASE `{victim}`; CREATE TABLE `{victim}`.kept (id INT PRIMARY KEY)"
        ))
        .await;
    let id = rig.create(json!({})).await;
    rig.wait_status(&id, "Normal").await;
    let db = rig.db.clone();
    rig.up(&format!("CREATE DATABASE `{db}`")).await;
    let tail = format!("COMMENT 'x\\' CONNECTION='; DROP DATABASE `{victim}`; SELECT 1 -- '");
    rig.up(&format!(
        "SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES'; \
         CREATE TABLE `{db}`.t1 (a INT PRIMARY KEY) {tail}"
    ))
    .await;
    // Under ANSI_QUOTES the names are `"`-quoted: ferry's lexer must read
    // them as names to replicate the table at all.
    rig.up(&format!(
        "SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES,ANSI_QUOTES'; \
         CREATE TABLE \"{db}\".\"t2\" (a INT PRIMARY KEY) {tail}"
    ))
    .await;
    rig.sync().await;

    let victim_tables = rig
        .downstream
        .query_one(&format!(
            "SELECT CAST(COUNT(*) AS CHAR) FROM information_schema.TABLES \
             WHERE TABLE_SCHEMA = '{victim}'"
        ))
        .await;
    rig.downstream
        .exec(&format!("DROP DATABASE IF EXISTS `{victim}`"))
        .await;
    assert_eq!(
        victim_tables.as_deref(),
        Some("1"),
        "the database no rule replicates is intact downstream"
    );
    for table in ["t1", "t2"] {
        let comment = format!(
            "SELECT TABLE_COMMENT FROM information_schema.TABLES \
             WHERE TABLE_SCHEMA = '{db}' AND TABLE_NAME = '{table}'"
        );
        let down = rig.downstream.query_one(&comment).await;
        assert_eq!(down.as_deref(), Some("x\\"), "{table}'s comment downstream");
        let show = format!("SHOW CREATE TABLE `{db}`.`{table}`");
        let up = rig.upstream.server().query(&show).await;
        let down = rig.downstream.query(&show).await;
        assert_eq!(up, down, "{table} is the same table on both sides");
        assert!(
            format!("{down:?}").contains("DROP DATABASE"),
            "the rest of the statement is {table}'s CONNECTION string: {down:?}"
        );
    }
    assert_eq!(rig.detail(&id).await["status"], "Normal");
}

/// A DDL that meets a duplicate key downstream fails the changefeed with an
/// error naming the table and key; the duplicated value appears neither in
/// the API nor in ferry's logs.
#[tokio::test]
async fn a_duplicate_key_downstream_is_reported_without_the_value() {
    let rig = Rig::with_worker().await;
    let db = rig.db.clone();
    let secret = format!(
        "s3cr3t-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    rig.both_exec(&format!(
        "CREATE DATABASE `{db}`; CREATE TABLE `{db}`.t (id INT PRIMARY KEY, code VARCHAR(64))"
    ))
    .await;
    // Rows only the downstream has, which the upstream's new unique key
    // cannot take.
    rig.downstream
        .exec(&format!(
            "INSERT INTO `{db}`.t VALUES (100, '{secret}'), (101, '{secret}')"
        ))
        .await;
    let id = rig.create(json!({})).await;
    rig.wait_status(&id, "Normal").await;
    rig.up(&format!(
        "ALTER TABLE `{db}`.t ADD UNIQUE KEY uniq_code (code)"
    ))
    .await;
    let detail = eventually("the changefeed to fail", SYNC_TIMEOUT, || async {
        let detail = rig.detail(&id).await;
        if detail["status"] == "Failed" || detail["status"] == "Error" {
            Ok(detail)
        } else {
            Err(detail)
        }
    })
    .await;
    let shown = detail.to_string();
    assert!(
        shown.contains("duplicate key") && shown.contains("uniq_code"),
        "the error names the key: {detail}"
    );
    assert!(!shown.contains(&secret), "the value is not shown: {detail}");
    let tasks = rig.app.get("/api/v1/tasks?pageSize=100").await.text;
    assert!(!tasks.contains(&secret), "no task shows the value: {tasks}");
    let logs = rig.app.api.output();
    assert!(
        logs.contains("uniq_code"),
        "the failure is logged (the logs are the ones checked)"
    );
    assert!(
        !logs.contains(&secret),
        "ferry's logs do not show the value"
    );
}
