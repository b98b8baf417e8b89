//! The three ways a token used to reach too far, each refused with nothing
//! changed: a client changing a cluster-wide broker default, a client
//! pointing a changefeed anywhere, and an update that would send a stored
//! password to a new host.

use ferry_tests::{Backend, TestApp};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{call, world};

#[tokio::test]
async fn client_tokens_do_not_change_broker_configs() {
    let w = world(Backend::Sqlite, &[]).await;
    let app = &w.app;
    let (_, client) = app.mint_token("ci", "client").await;
    let path = format!("/v3/clusters/{}/broker-configs/log.retention.ms", w.shared);
    for token in [client.as_str(), &w.a.admin] {
        let reply = call(
            app,
            Method::PUT,
            &path,
            token,
            Some(&json!({ "value": "1" })),
        )
        .await;
        assert_eq!(reply.status.as_u16(), 403, "{reply}");
        assert_eq!(reply.json()["error_code"], 403, "{reply}");
    }
    let alter = format!("/v3/clusters/{}/broker-configs:alter", w.shared);
    let body = json!({ "data": [{ "name": "log.retention.ms", "value": "1" }] });
    let reply = call(app, Method::POST, &alter, &client, Some(&body)).await;
    assert_eq!(reply.status.as_u16(), 403, "{reply}");
    let broker = format!(
        "/v3/clusters/{}/brokers/1/configs/log.retention.ms",
        w.shared
    );
    let reply = call(
        app,
        Method::PUT,
        &broker,
        &client,
        Some(&json!({ "value": "1" })),
    )
    .await;
    assert_eq!(reply.status.as_u16(), 403, "{reply}");
    let tasks = app
        .get("/api/v1/tasks?kind=broker.config&pageSize=10")
        .await
        .expect(200);
    assert_eq!(tasks["total"], 0, "a refused change left a task: {tasks}");
}

fn changefeed(cluster: &str, downstream: Value) -> Value {
    json!({
        "name": "feed",
        "clusterId": cluster,
        "downstreamType": "mysql",
        "downstream": downstream,
        "rules": ["shop.*"],
    })
}

async fn changefeed_count(app: &TestApp) -> u64 {
    let list = app
        .get("/api/v1/changefeeds/?pageSize=100")
        .await
        .expect(200);
    list["page"]["total"].as_u64().expect("total")
}

/// A TiEM error: the status and its `code` in the body (TiEM's own 21201
/// for a changefeed that does not exist).
fn tiem_refused(reply: &ferry_tests::Reply, status: u16) {
    assert_eq!(reply.status.as_u16(), status, "{reply}");
    let code = if status == 404 { 21201 } else { status };
    assert_eq!(reply.json()["code"], code, "{reply}");
}

#[tokio::test]
async fn changefeeds_reach_only_what_was_granted() {
    let w = world(Backend::Sqlite, &[]).await;
    let app = &w.app;
    let (_, client) = app.mint_token("ci", "client").await;
    let anywhere =
        json!({ "ip": "203.0.113.7", "port": 3306, "username": "root", "password": "x" });
    let into_registered = json!({ "targetClusterId": w.mysql });

    // A global client names an address: only global admins may.
    let reply = call(
        app,
        Method::POST,
        "/api/v1/changefeeds/",
        &client,
        Some(&changefeed(&w.mysql, anywhere.clone())),
    )
    .await;
    tiem_refused(&reply, 403);
    // Project A has no grant on the MySQL cluster: it does not exist for A.
    let reply = call(
        app,
        Method::POST,
        "/api/v1/changefeeds/",
        &w.a.admin,
        Some(&changefeed(&w.mysql, into_registered.clone())),
    )
    .await;
    tiem_refused(&reply, 400);
    assert!(
        reply.json()["message"]
            .as_str()
            .unwrap()
            .contains("no such cluster"),
        "{reply}"
    );
    // Project B may read from its source, but not write to an address off
    // the allow-list.
    let reply = call(
        app,
        Method::POST,
        "/api/v1/changefeeds/",
        &w.b.admin,
        Some(&changefeed(&w.mysql, anywhere)),
    )
    .await;
    tiem_refused(&reply, 403);
    assert!(
        reply.json()["message"]
            .as_str()
            .unwrap()
            .contains("allow-list"),
        "{reply}"
    );
    // A source granted only as a source is not a target.
    crate::helpers::grant(
        app,
        "projb",
        &w.mysql,
        json!({ "source": true, "target": false }),
    )
    .await;
    let reply = call(
        app,
        Method::POST,
        "/api/v1/changefeeds/",
        &w.b.admin,
        Some(&changefeed(&w.mysql, into_registered)),
    )
    .await;
    tiem_refused(&reply, 403);
    assert_eq!(
        changefeed_count(app).await,
        0,
        "a refused create recorded a changefeed"
    );
}

#[tokio::test]
async fn a_new_downstream_host_needs_the_password_again() {
    let w = world(Backend::Sqlite, &[]).await;
    let app = &w.app;
    let port = w.upstream.port();
    // A downstream user with a password, so that one is stored.
    let made = std::process::Command::new("mariadb")
        .args([
            "--protocol=tcp",
            "-h127.0.0.1",
            "-uroot",
            &format!("-P{port}"),
            "-e",
        ])
        .arg("CREATE USER 'feed'@'%' IDENTIFIED BY 's3cret-pw'; GRANT ALL ON *.* TO 'feed'@'%'")
        .status()
        .expect("mariadb client");
    assert!(made.success());
    let downstream =
        json!({ "ip": "127.0.0.1", "port": port, "username": "feed", "password": "s3cret-pw" });
    // The create's outcome does not matter here (the system server may have
    // no binlog); the changefeed is recorded either way.
    app.post("/api/v1/changefeeds/", &changefeed(&w.mysql, downstream))
        .await;
    let list = app
        .get("/api/v1/changefeeds/?pageSize=10")
        .await
        .expect(200);
    let id = list["data"][0]["id"]
        .as_str()
        .expect("a changefeed")
        .to_owned();
    let update = format!("/api/v1/changefeeds/{id}/update");
    let elsewhere =
        json!({ "downstream": { "ip": "203.0.113.9", "port": 3306, "username": "root" } });

    let (_, client) = app.mint_token("ci", "client").await;
    let reply = call(app, Method::POST, &update, &client, Some(&elsewhere)).await;
    tiem_refused(&reply, 403);
    let reply = call(app, Method::POST, &update, &w.b.admin, Some(&elsewhere)).await;
    tiem_refused(&reply, 404);
    let reply = app.post(&update, &elsewhere).await;
    tiem_refused(&reply, 400);
    assert!(
        reply.json()["message"]
            .as_str()
            .unwrap()
            .contains("password is required"),
        "{reply}"
    );
    let new_user =
        json!({ "downstream": { "ip": "127.0.0.1", "port": port, "username": "someone" } });
    let reply = app.post(&update, &new_user).await;
    tiem_refused(&reply, 400);

    let detail = app.changefeed(&id).await;
    assert_eq!(detail["downstream"]["ip"], "127.0.0.1", "{detail}");
    assert_eq!(detail["downstream"]["username"], "feed", "{detail}");
    let tasks = app
        .get("/api/v1/tasks?kind=changefeed.update&pageSize=10")
        .await
        .expect(200);
    assert_eq!(tasks["total"], 0, "a refused update left a task: {tasks}");
}
