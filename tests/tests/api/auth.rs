//! Bearer tokens and roles: who may call what.

use crate::helpers::*;

both_backends!(
    calls_without_a_valid_token_get_401,
    roles_limit_what_a_token_may_do,
    a_revoked_token_stops_working,
);

async fn calls_without_a_valid_token_get_401(backend: Backend) {
    let app = spawn_api_only(backend).await;

    for (method, path) in [
        (Method::GET, "/api/v1/tasks"),
        (Method::GET, "/api/v1/clusters"),
        (Method::GET, "/api/v1/tokens"),
        (Method::GET, "/api/v1/audit"),
        (Method::GET, "/metrics"),
    ] {
        app.send(method.clone(), path, None, None)
            .await
            .expect_problem(401);
        app.send(method, path, Some("fy_not-a-real-token"), None)
            .await
            .expect_problem(401);
    }

    // A refused submission must not be recorded.
    let ping = json!({ "kind": "ping", "payload": {} });
    app.send(Method::POST, "/api/v1/tasks", None, Some(&ping))
        .await
        .expect_problem(401);
    app.send(Method::POST, "/api/v1/tasks", Some("garbage"), Some(&ping))
        .await
        .expect_problem(401);
    let list = app.get("/api/v1/tasks").await.expect(200);
    assert_eq!(list["total"], 0, "a refused call recorded a task: {list}");

    // The TubeMQ dialect refuses in its own envelope.
    let add_topic = json!({
        "clusterId": 1,
        "user": "alice",
        "addTopicTasks": [{ "topicName": "orders" }],
    });
    app.send(
        Method::POST,
        "/v1/task?method=addTopicTask",
        None,
        Some(&add_topic),
    )
    .await
    .expect_tubemq_failure(401);
    app.send(
        Method::POST,
        "/v1/task?method=addTopicTask",
        Some("garbage"),
        Some(&add_topic),
    )
    .await
    .expect_tubemq_failure(401);
}

async fn roles_limit_what_a_token_may_do(backend: Backend) {
    let app = spawn_api_only(backend).await;
    let (_, viewer) = app.mint_token("dashboard", "viewer").await;
    let (_, client) = app.mint_token("ci-bot", "client").await;
    let ping = json!({ "kind": "ping", "payload": {} });
    let cluster = json!({ "name": "k1", "kind": "kafka", "bootstrapServers": "127.0.0.1:9092" });
    let token = json!({ "name": "sneaky", "role": "admin" });

    // A viewer reads but changes nothing.
    app.send(Method::GET, "/api/v1/tasks", Some(&viewer), None)
        .await
        .expect(200);
    app.send(Method::GET, "/api/v1/clusters", Some(&viewer), None)
        .await
        .expect(200);
    app.send(Method::GET, "/metrics", Some(&viewer), None)
        .await
        .expect(200);
    app.send(Method::POST, "/api/v1/tasks", Some(&viewer), Some(&ping))
        .await
        .expect_problem(403);
    app.send(
        Method::POST,
        "/api/v1/clusters",
        Some(&viewer),
        Some(&cluster),
    )
    .await
    .expect_problem(403);
    app.send(Method::POST, "/api/v1/tokens", Some(&viewer), Some(&token))
        .await
        .expect_problem(403);

    // `ping` tasks are for tests and benchmarks: only admins submit them.
    app.send(Method::POST, "/api/v1/tasks", Some(&client), Some(&ping))
        .await
        .expect_problem(403);
    let task = app.submit(&ping).await;
    assert_eq!(
        task["createdBy"], "admin",
        "the task does not name its submitter: {task}"
    );

    // A client cancels a pending task, and reads.
    let id = task_id(&task);
    app.send(
        Method::GET,
        &format!("/api/v1/tasks/{id}"),
        Some(&client),
        None,
    )
    .await
    .expect(200);
    // ...but a viewer may not cancel it.
    app.send(
        Method::POST,
        &format!("/api/v1/tasks/{id}/cancel"),
        Some(&viewer),
        None,
    )
    .await
    .expect_problem(403);
    app.send(
        Method::POST,
        &format!("/api/v1/tasks/{id}/cancel"),
        Some(&client),
        None,
    )
    .await
    .expect(200);

    // A client may not administer.
    app.send(Method::POST, "/api/v1/tokens", Some(&client), Some(&token))
        .await
        .expect_problem(403);
    app.send(Method::GET, "/api/v1/tokens", Some(&client), None)
        .await
        .expect_problem(403);
    app.send(
        Method::POST,
        "/api/v1/clusters",
        Some(&client),
        Some(&cluster),
    )
    .await
    .expect_problem(403);
    app.send(Method::GET, "/api/v1/audit", Some(&client), None)
        .await
        .expect_problem(403);

    // The refused calls left nothing behind: the admin's task, no cluster, and only
    // the tokens the admin minted.
    let tasks = app.get("/api/v1/tasks").await.expect(200);
    assert_eq!(tasks["total"], 1, "{tasks}");
    let clusters = app.get("/api/v1/clusters").await.expect(200);
    assert!(
        data(&clusters).is_empty(),
        "a refused call created a cluster: {clusters}"
    );
    let tokens = app.get("/api/v1/tokens").await.expect(200);
    assert!(
        data(&tokens).iter().all(|t| t["name"] != "sneaky"),
        "a refused call minted a token: {tokens}"
    );

    // The TubeMQ dialect enforces roles too, in its envelope.
    let add_topic = json!({
        "clusterId": 1,
        "user": "alice",
        "addTopicTasks": [{ "topicName": "orders" }],
    });
    app.send(
        Method::POST,
        "/v1/task?method=addTopicTask",
        Some(&viewer),
        Some(&add_topic),
    )
    .await
    .expect_tubemq_failure(403);
}

async fn a_revoked_token_stops_working(backend: Backend) {
    let app = spawn_api_only(backend).await;
    let (id, token) = app.mint_token("leaver", "client").await;
    app.send(Method::GET, "/api/v1/tasks", Some(&token), None)
        .await
        .expect(200);

    // The secret is shown only when minted: the list never carries it.
    let tokens = app.get("/api/v1/tokens").await;
    assert!(
        !tokens.text.contains(&token),
        "the token list shows a secret: {tokens}"
    );

    app.delete(&format!("/api/v1/tokens/{id}"))
        .await
        .expect(204);

    app.send(Method::GET, "/api/v1/tasks", Some(&token), None)
        .await
        .expect_problem(401);
    let ping = json!({ "kind": "ping", "payload": {} });
    app.send(Method::POST, "/api/v1/tasks", Some(&token), Some(&ping))
        .await
        .expect_problem(401);

    let tokens = app.get("/api/v1/tokens").await.expect(200);
    let listed = data(&tokens)
        .iter()
        .find(|t| t["id"] == id.as_str())
        .unwrap_or_else(|| panic!("revoked token {id} is not listed: {tokens}"));
    assert!(
        listed["revokedAt"].is_string(),
        "revokedAt is not set: {listed}"
    );

    // Revoking an unknown token is a 404, not a silent success.
    app.delete("/api/v1/tokens/00000000-0000-7000-8000-000000000000")
        .await
        .expect_problem(404);
}

/// Revoking the token `FERRY_ADMIN_TOKEN` registered does not stop ferry
/// from starting (issue #16, item 16): it starts, and that token stays
/// revoked.
#[tokio::test]
async fn a_revoked_bootstrap_token_does_not_stop_a_restart() {
    let app = spawn_api_only(Backend::Sqlite).await;
    let (_, other_admin) = app.mint_token("second-admin", "admin").await;
    let tokens = app.get("/api/v1/tokens").await.expect(200);
    let bootstrap = data(&tokens)
        .iter()
        .find(|t| t["createdBy"] == "FERRY_ADMIN_TOKEN")
        .and_then(|t| t["id"].as_str())
        .expect("the bootstrap token is listed")
        .to_owned();
    app.send(
        Method::DELETE,
        &format!("/api/v1/tokens/{bootstrap}"),
        Some(&other_admin),
        None,
    )
    .await
    .expect(204);

    // A second API process on the same store, with the same settings.
    let (mut restarted, base) = app
        .launcher()
        .spawn_api(false, &[])
        .await
        .expect("ferry starts with a revoked FERRY_ADMIN_TOKEN");
    let client = reqwest::Client::new();
    let revoked = client
        .get(format!("{base}/api/v1/tasks"))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .expect("the restarted API answers");
    assert_eq!(revoked.status(), 401, "the revoked token works again");
    let ok = client
        .get(format!("{base}/api/v1/tasks"))
        .bearer_auth(&other_admin)
        .send()
        .await
        .expect("the restarted API answers");
    assert_eq!(ok.status(), 200);
    restarted.ensure_running().expect("it keeps running");
}
