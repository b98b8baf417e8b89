//! Bad input and unknown routes get a 4xx in the right envelope, never a 500
//! or a bare text body.

use crate::helpers::*;

both_backends!(
    bad_input_gets_400_problem_json,
    tubemq_paths_answer_errors_in_their_envelope,
    unknown_routes_get_404_in_their_dialect,
);

async fn bad_input_gets_400_problem_json(backend: Backend) {
    let app = spawn_api_only(backend).await;
    let token = Some(app.admin_token.as_str());
    let json = Some("application/json");

    let bad_bodies = [
        ("/api/v1/tasks", "{\"kind\":"),
        ("/api/v1/tasks", "not json at all"),
        ("/api/v1/tasks", "{\"kind\": 5}"),
        ("/api/v1/tasks", "[]"),
        ("/api/v1/tasks", "{}"),
        ("/api/v1/tasks", "{\"kind\": \"nope\"}"),
        (
            "/api/v1/tasks",
            "{\"kind\": \"ping\", \"maxAttempts\": \"three\"}",
        ),
        ("/api/v1/tasks", "{\"kind\": \"ping\", \"maxAttempts\": 0}"),
        (
            "/api/v1/tasks",
            "{\"kind\": \"ping\", \"maxAttempts\": 101}",
        ),
        (
            "/api/v1/tasks",
            "{\"kind\": \"ping\", \"payload\": \"not an object\"}",
        ),
        ("/api/v1/tasks", ""),
        (
            "/api/v1/clusters",
            "{\"name\": \"x\", \"kind\": \"mysql\", \"host\": \"h\", \"port\": \"abc\"}",
        ),
        ("/api/v1/clusters", "{\"name\": ["),
        ("/api/v1/tokens", "{\"name\": \"x\"}"),
        ("/api/v1/tokens", "{\"name\": \"x\", \"role\": \"root\"}"),
        ("/api/v1/tokens", "{\"name\": \"\", \"role\": \"viewer\"}"),
    ];
    for (path, body) in bad_bodies {
        app.send_raw(Method::POST, path, token, json, Some(body.to_owned()))
            .await
            .expect_problem(400);
    }
    app.send_raw(
        Method::PUT,
        "/api/v1/clusters/1",
        token,
        json,
        Some("{\"name\":".to_owned()),
    )
    .await
    .expect_problem(400);

    // No body and no content type: a client error, still problem JSON.
    let reply = app
        .send_raw(Method::POST, "/api/v1/tasks", token, None, None)
        .await;
    assert!(reply.status.is_client_error(), "{reply}");
    reply.expect_problem(reply.status.as_u16());

    // Nothing was recorded by any of the refused calls.
    let tasks = app.get("/api/v1/tasks").await.expect(200);
    assert_eq!(tasks["total"], 0, "{tasks}");
    let clusters = app.get("/api/v1/clusters").await.expect(200);
    assert!(data(&clusters).is_empty(), "{clusters}");
}

async fn tubemq_paths_answer_errors_in_their_envelope(backend: Backend) {
    let app = spawn_api_only(backend).await;
    let token = Some(app.admin_token.as_str());
    let json = Some("application/json");
    for body in [
        "{\"clusterId\":",
        "not json",
        "{\"addTopicTasks\": \"not a list\"}",
        "{\"clusterId\": 1, \"user\": \"u\", \"addTopicTasks\": [{\"topicName\": \"t\", \"partitionCount\": \"many\"}]}",
        "",
    ] {
        let reply = app
            .send_raw(
                Method::POST,
                "/v1/task?method=addTopicTask",
                token,
                json,
                Some(body.to_owned()),
            )
            .await;
        assert!(reply.status.is_client_error(), "{reply}");
        reply.expect_tubemq_failure(reply.status.as_u16());
    }
}

async fn unknown_routes_get_404_in_their_dialect(backend: Backend) {
    let app = spawn_api_only(backend).await;
    for path in ["/nope", "/api/v1/nope", "/api/v2/tasks"] {
        app.get(path).await.expect_problem(404);
        // Unknown routes are 404 with or without a token.
        app.send(Method::GET, path, None, None)
            .await
            .expect_problem(404);
    }
    for path in ["/v1/nope", "/v1/task/extra"] {
        app.get(path).await.expect_tubemq_failure(404);
    }
    app.get("/api/v1/tasks/00000000-0000-7000-8000-000000000000")
        .await
        .expect_problem(404);
    // A known path with the wrong method.
    app.delete("/api/v1/tasks").await.expect_problem(405);
}

/// The whole RFC 7807 contract on every error path: `application/problem+json`
/// and a `requestId` equal to the `x-request-id` header, whether the error was
/// raised by a handler, by the framework or by `/metrics`.
#[tokio::test]
async fn every_problem_names_its_request() {
    let app = spawn_api_only(Backend::Sqlite).await;
    let (_, viewer) = app.mint_token("viewer", "viewer").await;
    // Refused by the framework before a handler runs.
    app.send(Method::GET, "/api/v1/tasks", None, None)
        .await
        .expect_strict_problem(401);
    app.send_raw(
        Method::POST,
        "/api/v1/tasks",
        Some(&app.admin_token),
        Some("application/json"),
        Some("{".to_owned()),
    )
    .await
    .expect_strict_problem(400);
    app.get("/nope").await.expect_strict_problem(404);
    // Refused by handlers.
    app.send(Method::GET, "/metrics", None, None)
        .await
        .expect_strict_problem(401);
    app.get("/api/v1/tasks?pageSize=0")
        .await
        .expect_strict_problem(400);
    app.send(
        Method::POST,
        "/api/v1/tasks",
        Some(&viewer),
        Some(&json!({ "kind": "ping" })),
    )
    .await
    .expect_strict_problem(403);
    app.get("/api/v1/tasks/00000000-0000-7000-8000-000000000000")
        .await
        .expect_strict_problem(404);
    let id = app.ping(json!({})).await;
    app.cancel(&id).await.expect(200);
    app.cancel(&id).await.expect_strict_problem(409);
}
