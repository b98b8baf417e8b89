//! The TiEM contract: envelopes, codes, validation and operation semantics.

use ferry_tests::{AppOptions, Backend, mariadb::system_server};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

async fn create_error(rig: &Rig, body: Value, status: u16) -> String {
    let reply = rig.app.post("/api/v1/changefeeds/", &body).await;
    let json = reply.expect(status);
    assert_ne!(json["code"], 0, "{json}");
    json["message"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn bad_inputs_get_their_messages() {
    let rig = Rig::with_worker().await;
    let ok = json!({
        "clusterId": rig.cluster_id, "name": "x", "downstreamType": "mysql",
        "downstream": rig.downstream_object(), "rules": ["*.*"],
    });
    let with = |key: &str, value: Value| {
        let mut b = ok.clone();
        b[key] = value;
        b
    };
    assert!(
        create_error(&rig, with("clusterId", json!("9999")), 400)
            .await
            .contains("no such cluster")
    );
    assert!(
        create_error(&rig, with("rules", json!(["db.[a-"])), 400)
            .await
            .contains("rules")
    );
    assert!(
        create_error(&rig, with("downstreamType", json!("oracle")), 400)
            .await
            .contains("downstreamType")
    );
    assert!(
        create_error(&rig, with("name", json!("")), 400)
            .await
            .contains("name")
    );
    assert!(
        create_error(&rig, with("startTS", json!("abc")), 400)
            .await
            .contains("startTS")
    );
    let unreachable = json!({ "ip": "127.0.0.1", "port": 1, "username": "root" });
    let msg = create_error(&rig, with("downstream", unreachable), 400).await;
    assert!(msg.contains("downstream"), "{msg}");
    assert!(
        create_error(&rig, with("downstream", json!({ "ip": "127.0.0.1" })), 400)
            .await
            .contains("downstream.port")
    );

    // The system instance has its binlog off: refused as an upstream.
    let system = system_server();
    let cluster = rig
        .app
        .post("/api/v1/clusters", &json!({ "name": "nobinlog", "kind": "mysql", "host": system.host, "port": system.port, "user": "root" }))
        .await
        .expect(201);
    let msg = create_error(&rig, with("clusterId", cluster["id"].clone()), 400).await;
    assert!(msg.contains("log_bin"), "{msg}");

    // A table without a key is refused, and listed, unless forced.
    rig.up(&format!("CREATE DATABASE `{}`", rig.db)).await;
    rig.up(&format!("CREATE TABLE `{}`.nokey (a INT, b TEXT)", rig.db))
        .await;
    let rules = json!([format!("{}.*", rig.db)]);
    let msg = create_error(&rig, with("rules", rules.clone()), 400).await;
    assert!(msg.contains(&format!("{}.nokey", rig.db)), "{msg}");
    let mut forced = with("rules", rules);
    forced["force"] = json!(true);
    let reply = rig
        .app
        .post("/api/v1/changefeeds/", &forced)
        .await
        .expect(200);
    assert_eq!(reply["code"], 0);

    // Malformed JSON: 400 in the TiEM envelope.
    let bad = rig
        .app
        .send_raw(
            Method::POST,
            "/api/v1/changefeeds/",
            Some(&rig.app.admin_token),
            Some("application/json"),
            Some("{".into()),
        )
        .await;
    let body = bad.expect(400);
    assert_eq!(body["code"], 400);
    assert!(
        body["message"].as_str().unwrap().contains("parse"),
        "{body}"
    );

    // Unknown ids: 404 with code 21201.
    let missing = rig.app.get("/api/v1/changefeeds/nope/").await.expect(404);
    assert_eq!(missing["code"], 21201);
    let missing = rig
        .app
        .send(
            Method::POST,
            "/api/v1/changefeeds/nope/pause",
            Some(&rig.app.admin_token),
            None,
        )
        .await
        .expect(404);
    assert_eq!(missing["code"], 21201);
}

#[tokio::test]
async fn lifecycle_statuses_and_conflicts() {
    let rig = Rig::start(AppOptions::new(Backend::Sqlite)).await;
    rig.up(&format!("CREATE DATABASE `{}`", rig.db)).await;
    let id = rig.create(json!({ "startPaused": true })).await;
    let detail = rig.wait_status(&id, "Stopped").await;
    for field in [
        "downstreamSyncTs",
        "downstreamFetchTs",
        "upstreamUpdateTs",
        "startTS",
    ] {
        let ts: u64 = detail[field].as_str().unwrap().parse().unwrap();
        assert!(ts > 1 << 40, "{field} is a TSO: {detail}");
    }
    let sync_ts: u64 = detail["downstreamSyncTs"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        detail["downstreamSyncUnix"].as_u64().unwrap(),
        sync_ts >> 18
    );
    assert_eq!(
        detail["downstream"]["password"],
        Value::Null,
        "no password was given"
    );
    assert_eq!(detail["clusterId"], rig.cluster_id);

    // Pause of a Stopped changefeed is a no-op success.
    let paused = rig.operate(&id, "pause").await;
    assert_eq!(paused["data"]["status"], "Stopped");
    let resumed = rig.operate(&id, "resume").await;
    assert_eq!(
        resumed["data"]["status"], "Stopped",
        "answers the status before"
    );
    rig.wait_status(&id, "Normal").await;

    let list = rig
        .app
        .get(&format!(
            "/api/v1/changefeeds/?clusterId={}&page=0&pageSize=10",
            rig.cluster_id
        ))
        .await
        .expect(200);
    assert_eq!(list["code"], 0);
    assert_eq!(list["page"]["total"], 1);
    assert_eq!(list["page"]["page"], 1, "page 0 means 1");
    assert_eq!(list["data"][0]["id"], id);

    let deleted = rig
        .app
        .send(
            Method::DELETE,
            &format!("/api/v1/changefeeds/{id}"),
            Some(&rig.app.admin_token),
            None,
        )
        .await
        .expect(200);
    assert_eq!(deleted["data"]["id"], id);
    assert_eq!(deleted["data"]["status"], "Normal");
    rig.app
        .get(&format!("/api/v1/changefeeds/{id}/"))
        .await
        .expect(404);
}

#[tokio::test]
async fn an_operation_on_an_unsteady_changefeed_is_refused() {
    // Without a worker, the first operation stays in flight.
    let rig = Rig::start(
        AppOptions::new(Backend::Sqlite)
            .without_worker()
            .env("FERRY_API__TASK_WAIT_MS", "200"),
    )
    .await;
    rig.up(&format!("CREATE DATABASE `{}`", rig.db)).await;
    let body = json!({
        "clusterId": rig.cluster_id, "name": "pending", "downstreamType": "tidb",
        "downstream": rig.downstream_object(),
    });
    let reply = rig
        .app
        .post("/api/v1/changefeeds/", &body)
        .await
        .expect(200);
    let id = reply["data"]["id"].as_str().unwrap().to_owned();
    let detail = rig.detail(&id).await;
    assert_eq!(detail["status"], "Initial");
    assert_eq!(
        detail["unsteady"], true,
        "create is still in flight: {detail}"
    );
    let conflict = rig
        .app
        .send(
            Method::POST,
            &format!("/api/v1/changefeeds/{id}/pause"),
            Some(&rig.app.admin_token),
            None,
        )
        .await
        .expect(409);
    assert_eq!(conflict["code"], 21203);
}

#[tokio::test]
async fn viewers_cannot_operate() {
    let rig = Rig::with_worker().await;
    let (_, viewer) = rig.app.mint_token("watcher", "viewer").await;
    let reply = rig
        .app
        .send(
            Method::POST,
            "/api/v1/changefeeds/",
            Some(&viewer),
            Some(&json!({})),
        )
        .await;
    assert_eq!(reply.expect(403)["code"], 403);
    let list = rig
        .app
        .send(Method::GET, "/api/v1/changefeeds/", Some(&viewer), None)
        .await
        .expect(200);
    assert_eq!(list["code"], 0);
    let anonymous = rig
        .app
        .send(Method::GET, "/api/v1/changefeeds/", None, None)
        .await
        .expect(401);
    assert_eq!(anonymous["code"], 401);
}

/// A changefeed whose stored rules cannot be read fails with that reason
/// instead of running on a default (an empty rule list would replicate every
/// table).
#[tokio::test]
async fn unreadable_stored_rules_fail_the_changefeed_closed() {
    let rig = Rig::start(AppOptions::new(Backend::Sqlite)).await;
    rig.up(&format!("CREATE DATABASE `{}`", rig.db)).await;
    let id = rig.create(json!({ "startPaused": true })).await;
    rig.wait_status(&id, "Stopped").await;
    let changed = rig
        .app
        .db
        .query_strings(&format!(
            "UPDATE changefeeds SET rules = '\"not a list\"' WHERE id = '{id}' RETURNING id"
        ))
        .await;
    assert_eq!(changed, vec![Some(id.clone())]);
    rig.operate(&id, "resume").await;
    let detail = rig.wait_status(&id, "Failed").await;
    let reason = detail["errorMessage"]
        .as_str()
        .or_else(|| detail["message"].as_str())
        .unwrap_or_default()
        .to_owned();
    assert!(
        reason.contains("stored rules unreadable"),
        "the reason names the column: {detail}"
    );
}

/// A cluster a changefeed reads from cannot be removed under it (issue #16,
/// item 4); once the changefeed is gone, it can, and the changefeed's
/// series have left /metrics (item 16).
#[tokio::test]
async fn a_cluster_in_use_by_a_changefeed_is_not_deleted() {
    let rig = Rig::start(AppOptions::new(Backend::Sqlite)).await;
    rig.up(&format!("CREATE DATABASE `{}`", rig.db)).await;
    let id = rig.create(json!({ "startPaused": true })).await;
    rig.wait_status(&id, "Stopped").await;
    let path = format!("/api/v1/clusters/{}", rig.cluster_id);
    let refused = rig.app.delete(&path).await.expect_problem(409);
    assert!(
        refused.contains(&id),
        "the refusal names the changefeed: {refused}"
    );
    rig.app.get(&path).await.expect(200);
    let metrics = rig.app.get("/metrics").await;
    assert!(
        metrics
            .text
            .contains(&format!("ferry_changefeed_state{{changefeed=\"{id}\"")),
        "{metrics}"
    );

    rig.app
        .send(
            Method::DELETE,
            &format!("/api/v1/changefeeds/{id}"),
            Some(&rig.app.admin_token),
            None,
        )
        .await
        .expect(200);
    rig.app.delete(&path).await.expect(204);
    // A deleted changefeed's series leave /metrics with it.
    let metrics = rig.app.get("/metrics").await;
    assert!(!metrics.text.contains(&id), "{metrics}");
}

/// Changefeed operations cannot be cancelled by hand (issue #16, item 3): cut
/// short, they would leave a changefeed half-changed.
#[tokio::test]
async fn changefeed_operations_cannot_be_cancelled() {
    // Without a worker the create task stays pending, the one state in which
    // any other task could be cancelled.
    let options = AppOptions::new(Backend::Sqlite)
        .without_worker()
        .env("FERRY_API__TASK_WAIT_MS", "100");
    let rig = Rig::start(options).await;
    rig.up(&format!("CREATE DATABASE `{}`", rig.db)).await;
    rig.create(json!({ "startPaused": true })).await;
    let tasks = rig
        .app
        .get("/api/v1/tasks?kind=changefeed.create")
        .await
        .expect(200);
    let task = tasks["data"][0]["id"]
        .as_str()
        .expect("the create task")
        .to_owned();
    assert_eq!(tasks["data"][0]["status"], "pending", "{tasks}");
    let refused = rig
        .app
        .post(&format!("/api/v1/tasks/{task}/cancel"), &json!({}))
        .await
        .expect_problem(409);
    assert!(refused.contains("changefeed operation"), "{refused}");
}
