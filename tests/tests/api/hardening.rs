//! Bad input gets a clear 4xx in the dialect's envelope, before it costs
//! anything (issue #16, items 6, 7, 8, 11 and 12).

use std::time::Duration;

use crate::helpers::*;

both_backends!(paging_beyond_any_offset_is_refused);

async fn paging_beyond_any_offset_is_refused(backend: Backend) {
    let app = spawn_api_only(backend).await;
    let huge = "page=461168601842738792&pageSize=20";
    for path in ["/api/v1/tasks", "/api/v1/audit"] {
        let detail = app.get(&format!("{path}?{huge}")).await.expect_problem(400);
        assert!(detail.contains("page"), "{path}: {detail}");
    }
    let tiem = app.get(&format!("/api/v1/changefeeds/?{huge}")).await;
    assert_eq!(tiem.status, 400, "{tiem}");
    assert_eq!(tiem.json()["code"], 400, "{tiem}");
    // The API still answers afterwards: nothing panicked.
    app.get("/api/v1/tasks?page=2&pageSize=20")
        .await
        .expect(200);
}

#[tokio::test]
async fn bodies_over_the_limit_get_413_before_they_are_read() {
    let app = TestApp::spawn_with(
        AppOptions::new(Backend::Sqlite)
            .without_worker()
            .env("FERRY_API__MAX_BODY_BYTES", "65536"),
    )
    .await;
    let (_, viewer) = app.mint_token("dashboard", "viewer").await;
    let big = format!(
        r#"{{"kind":"ping","payload":{{"pad":"{}"}}}}"#,
        "x".repeat(100_000)
    );
    for (path, token) in [
        ("/api/v1/tasks", Some(viewer.as_str())),
        ("/api/v1/tasks", None),
        ("/v3/clusters/1/topics", Some(app.admin_token.as_str())),
    ] {
        let reply = app
            .send_raw(
                Method::POST,
                path,
                token,
                Some("application/json"),
                Some(big.clone()),
            )
            .await;
        assert_eq!(reply.status, 413, "{path}: {reply}");
        assert!(reply.text.contains("larger than"), "{reply}");
    }
    // The Confluent answer is in Confluent's envelope.
    let confluent = app
        .send_raw(
            Method::POST,
            "/v3/clusters/1/topics",
            Some(&app.admin_token),
            Some("application/json"),
            Some(big),
        )
        .await;
    assert_eq!(confluent.json()["error_code"], 413, "{confluent}");
    // A body within the limit is read as before.
    app.submit(&json!({ "kind": "ping", "payload": {} })).await;
}

#[tokio::test]
async fn topic_requests_are_bounded() {
    let app = spawn_api_only(Backend::Sqlite).await;
    let cluster = app
        .post(
            "/api/v1/clusters",
            &json!({ "name": "k", "kind": "kafka", "bootstrapServers": "127.0.0.1:9" }),
        )
        .await
        .expect(201);
    let id = cluster["id"].as_str().expect("id").to_owned();
    let add =
        |tasks: Value, user: &str| json!({ "clusterId": id, "user": user, "addTopicTasks": tasks });
    let refused = |reply: ferry_tests::Reply| reply.expect_tubemq_failure(200);

    let message = refused(
        app.post(
            "/v1/task?method=addTopicTask",
            &add(
                json!([{ "topicName": "big", "partitionCount": 2_000_000_000 }]),
                "u",
            ),
        )
        .await,
    );
    assert!(message.contains("partitionCount"), "{message}");
    let message = refused(
        app.post(
            "/v1/task?method=addTopicTask",
            &add(
                json!([{ "topicName": "rf", "replicationFactor": 1000 }]),
                "u",
            ),
        )
        .await,
    );
    assert!(message.contains("replicationFactor"), "{message}");
    let many: Vec<Value> = (0..1001)
        .map(|i| json!({ "topicName": format!("t{i}") }))
        .collect();
    let message = refused(
        app.post("/v1/task?method=addTopicTask", &add(json!(many), "u"))
            .await,
    );
    assert!(message.contains("1000"), "{message}");
    let message = refused(
        app.post(
            "/v1/task?method=addTopicTask",
            &add(json!([{ "topicName": "t" }]), &"u".repeat(65)),
        )
        .await,
    );
    assert!(message.contains("user"), "{message}");

    let confluent = app
        .post(
            &format!("/v3/clusters/{id}/topics"),
            &json!({ "topic_name": "big", "partitions_count": 2_000_000_000 }),
        )
        .await;
    assert_eq!(confluent.status, 422, "{confluent}");
    assert_eq!(confluent.json()["error_code"], 422, "{confluent}");

    // Nothing was recorded.
    let tasks = app.get("/api/v1/tasks").await.expect(200);
    assert_eq!(tasks["total"], 0, "{tasks}");
}

#[tokio::test]
async fn an_admin_stops_a_running_task() {
    // One slot: the next task can only run once the cancelled one let go.
    let app =
        TestApp::spawn_with(AppOptions::new(Backend::Sqlite).env("FERRY_WORKER__CONCURRENCY", "1"))
            .await;
    let (_, client) = app.mint_token("ci-bot", "client").await;
    let id = app.ping(json!({ "sleepMs": 30000 })).await;
    app.wait_task(&id, "running", Duration::from_secs(20), |t| {
        t["status"] == "running"
    })
    .await;

    // A client cancels only tasks that have not started.
    app.send(
        Method::POST,
        &format!("/api/v1/tasks/{id}/cancel"),
        Some(&client),
        None,
    )
    .await
    .expect_problem(409);
    let cancelled = app.cancel(&id).await.expect(200);
    assert_eq!(cancelled["status"], "cancelled", "{cancelled}");
    assert_eq!(cancelled["failure"], "cancelled", "{cancelled}");

    // The worker stops the attempt at its next step: its slot runs the next
    // task long before the 30 s sleep would have ended.
    let started = std::time::Instant::now();
    let next = app.ping(json!({})).await;
    assert_eq!(app.wait_finished(&next).await["status"], "succeeded");
    assert!(started.elapsed() < Duration::from_secs(20));
    let task = app.task(&id).await;
    assert_eq!(
        task["status"], "cancelled",
        "the outcome overwrote it: {task}"
    );

    // `ping` asks for bounded work only.
    for payload in [json!({ "sleepMs": 600_000 }), json!({ "failTimes": 50 })] {
        app.post(
            "/api/v1/tasks",
            &json!({ "kind": "ping", "payload": payload }),
        )
        .await
        .expect_problem(400);
    }
}
