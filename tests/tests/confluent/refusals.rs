//! Bad input, unknown resources and missing permissions: each answered in
//! Confluent's envelope, and nothing changes.

use ferry_tests::{AppOptions, Backend, TestApp, kafka::TestKafka};
use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn unknown_resources_are_404_with_their_codes() {
    let kafka = TestKafka::start().await;
    let app = TestApp::spawn(Backend::Sqlite).await;
    let cluster = add_cluster(&app, &kafka).await;
    create_topic(&app, &cluster, json!({ "topic_name": "known" })).await;

    for path in [
        "/v3/clusters/999",
        "/v3/clusters/abc/topics",
        "/v3/clusters/0",
    ] {
        expect_error(&app.get(path).await, 404, 404);
    }
    expect_error(&app.get(&v3(&cluster, "/topics/unknown")).await, 404, 40401);
    expect_error(
        &app.get(&v3(&cluster, "/topics/unknown/partitions")).await,
        404,
        40401,
    );
    for partition in ["5", "-1", "abc"] {
        expect_error(
            &app.get(&v3(
                &cluster,
                &format!("/topics/known/partitions/{partition}"),
            ))
            .await,
            404,
            40402,
        );
    }
    expect_error(
        &app.get(&v3(&cluster, "/topics/known/partitions/9/offsets"))
            .await,
        404,
        40402,
    );
    expect_error(
        &app.get(&v3(&cluster, "/consumer-groups/none")).await,
        404,
        40403,
    );
    expect_error(&app.get(&v3(&cluster, "/brokers/4242")).await, 404, 404);
    expect_error(
        &app.delete(&v3(&cluster, "/topics/unknown")).await,
        404,
        40401,
    );
    // An unknown route under /v3 is in the same envelope.
    expect_error(&app.get(&v3(&cluster, "/no-such-thing")).await, 404, 404);
    expect_error(
        &app.post(
            &v3(&cluster, "/topics/known/configs:frobnicate"),
            // A body `:alter` takes: the route, not the body, is wrong.
            &json!({ "data": [{ "name": "retention.ms", "value": "1" }] }),
        )
        .await,
        404,
        404,
    );
}

#[tokio::test]
async fn invalid_requests_are_422_naming_the_field_and_change_nothing() {
    let kafka = TestKafka::start().await;
    let app = TestApp::spawn(Backend::Sqlite).await;
    let cluster = add_cluster(&app, &kafka).await;
    create_topic(&app, &cluster, json!({ "topic_name": "existing" })).await;

    // A body of the wrong shape (a field missing) is 400 and one breaking a
    // declared rule 422, both from the document's schema and naming the
    // field; what only this cluster refuses is 409 `40903`.
    let cases = [
        (json!({}), "topic_name", (400, 400)),
        (
            json!({ "topic_name": "bad name" }),
            "topic_name",
            (422, 422),
        ),
        (
            json!({ "topic_name": "x".repeat(250) }),
            "topic_name",
            (422, 422),
        ),
        (
            json!({ "topic_name": "t", "partitions_count": 0 }),
            "partitions_count",
            (422, 422),
        ),
        (
            json!({ "topic_name": "t", "replication_factor": 0 }),
            "replication_factor",
            (422, 422),
        ),
        (
            json!({ "topic_name": "t", "replication_factor": 2 }),
            "replication_factor",
            (409, 40903),
        ),
        (
            json!({ "topic_name": "t", "configs": [{ "name": "retention.msx", "value": "1" }] }),
            "retention.msx",
            (422, 422),
        ),
        (
            json!({ "topic_name": "t", "configs": [{ "name": "retention.ms", "value": "soon" }] }),
            "retention.ms",
            (422, 422),
        ),
        (
            json!({ "topic_name": "t", "configs": [{ "name": "retention.ms" }] }),
            "/configs/0",
            (400, 400),
        ),
    ];
    for (body, field, (status, code)) in cases {
        let message = expect_error(
            &app.post(&v3(&cluster, "/topics"), &body).await,
            status,
            code,
        );
        assert!(message.contains(field), "{body} -> {message}");
    }
    let exists = app
        .post(
            &v3(&cluster, "/topics"),
            &json!({ "topic_name": "existing" }),
        )
        .await;
    assert!(expect_error(&exists, 409, 40903).contains("already exists"));

    let config_cases = [
        (
            Method::PUT,
            "/topics/existing/configs/retention.ms",
            json!({ "value": "soon" }),
            "retention.ms",
        ),
        (
            Method::PUT,
            "/topics/existing/configs/retention.msx",
            json!({ "value": "1" }),
            "retention.msx",
        ),
        (
            Method::PUT,
            "/topics/existing/configs/retention.ms",
            json!({}),
            "value",
        ),
        (
            Method::POST,
            "/topics/existing/configs:alter",
            json!({ "data": [] }),
            "data",
        ),
        (
            Method::POST,
            "/topics/existing/configs:alter",
            json!({ "data": [{ "name": "retention.ms", "operation": "FOO" }] }),
            "operation",
        ),
        (
            Method::POST,
            "/topics/existing/configs:alter",
            json!({ "data": [{ "name": "retention.ms" }] }),
            "data[0].value",
        ),
    ];
    for (method, path, body, field) in config_cases {
        let reply = app
            .send(
                method.clone(),
                &v3(&cluster, path),
                Some(&app.admin_token),
                Some(&body),
            )
            .await;
        // A required field missing is the schema's shape: 400.
        let status = if body == json!({}) { 400 } else { 422 };
        let message = expect_error(&reply, status, status.into());
        assert!(
            message.contains(field),
            "{method} {path} {body} -> {message}"
        );
    }
    let reset_unknown = app
        .delete(&v3(&cluster, "/topics/existing/configs/no.such.config"))
        .await;
    assert!(expect_error(&reset_unknown, 422, 422).contains("no.such.config"));

    // Malformed JSON is refused in the same envelope.
    let garbled = app
        .send_raw(
            Method::POST,
            &v3(&cluster, "/topics"),
            Some(&app.admin_token),
            Some("application/json"),
            Some("{not json".into()),
        )
        .await;
    assert_eq!(garbled.status.as_u16(), 400, "{garbled}");
    assert_eq!(garbled.json()["error_code"], 400, "{garbled}");

    assert_eq!(tasks_of(&app, &cluster, "topic.create").await.len(), 1);
    assert!(tasks_of(&app, &cluster, "topic.config").await.is_empty());
    assert_eq!(kafka.partitions_of("t").await, None);
}

#[tokio::test]
async fn validate_only_checks_everything_and_changes_nothing() {
    let kafka = TestKafka::start().await;
    // No worker: anything recorded would stay visible as a pending task.
    let app = TestApp::spawn_with(AppOptions::new(Backend::Sqlite).without_worker()).await;
    let cluster = add_cluster(&app, &kafka).await;
    kafka.create_topic("present", 1).await;

    let checked = app
        .post(
            &v3(&cluster, "/topics?validate_only=true"),
            &json!({ "topic_name": "planned", "partitions_count": 4,
                     "configs": [{ "name": "cleanup.policy", "value": "compact" }] }),
        )
        .await
        .expect(200);
    assert_eq!(checked["topic_name"], "planned");
    assert_eq!(checked["partitions_count"], 4);
    // The body's flag works as well as the query's.
    app.post(
        &v3(&cluster, "/topics"),
        &json!({ "topic_name": "planned2", "validate_only": true }),
    )
    .await
    .expect(200);
    // A dry run still refuses what a real run would.
    expect_error(
        &app.post(
            &v3(&cluster, "/topics?validate_only=true"),
            &json!({ "topic_name": "planned", "partitions_count": 0 }),
        )
        .await,
        422,
        422,
    );
    app.put(
        &v3(
            &cluster,
            "/topics/present/configs/retention.ms?validate_only=true",
        ),
        &json!({ "value": "1000" }),
    )
    .await
    .expect(204);
    app.send(
        Method::DELETE,
        &v3(
            &cluster,
            "/topics/present/configs/retention.ms?validate_only=true",
        ),
        Some(&app.admin_token),
        None,
    )
    .await
    .expect(204);
    app.post(
        &v3(&cluster, "/topics/present/configs:alter"),
        &json!({ "validate_only": true, "data": [{ "name": "segment.ms", "value": "60000" }] }),
    )
    .await
    .expect(204);
    expect_error(
        &app.put(
            &v3(
                &cluster,
                "/topics/absent/configs/retention.ms?validate_only=true",
            ),
            &json!({ "value": "1000" }),
        )
        .await,
        404,
        40401,
    );

    let tasks = app.get("/api/v1/tasks?pageSize=100").await.expect(200);
    assert_eq!(tasks["total"], 0, "nothing recorded: {tasks}");
    assert_eq!(kafka.partitions_of("planned").await, None);
    assert_eq!(kafka.partitions_of("planned2").await, None);
}

#[tokio::test]
async fn viewers_read_but_cannot_mutate() {
    let kafka = TestKafka::start().await;
    let app = TestApp::spawn(Backend::Sqlite).await;
    let cluster = add_cluster(&app, &kafka).await;
    kafka.create_topic("shared", 1).await;
    let (_, viewer) = app.mint_token("watcher", "viewer").await;
    let (_, client) = app.mint_token("deployer", "client").await;

    let read = app
        .send(
            Method::GET,
            &v3(&cluster, "/topics/shared"),
            Some(&viewer),
            None,
        )
        .await
        .expect(200);
    assert_eq!(read["topic_name"], "shared");

    let attempts = [
        (
            Method::POST,
            "/topics".to_owned(),
            Some(json!({ "topic_name": "new" })),
        ),
        (
            Method::POST,
            "/topics?validate_only=true".to_owned(),
            Some(json!({ "topic_name": "new" })),
        ),
        (Method::DELETE, "/topics/shared".to_owned(), None),
        (
            Method::PUT,
            "/topics/shared/configs/retention.ms".to_owned(),
            Some(json!({ "value": "1000" })),
        ),
        (
            Method::DELETE,
            "/topics/shared/configs/retention.ms".to_owned(),
            None,
        ),
        (
            Method::POST,
            "/topics/shared/configs:alter".to_owned(),
            Some(json!({ "data": [{ "name": "retention.ms", "value": "1" }] })),
        ),
        (
            Method::PUT,
            "/brokers/1/configs/log.retention.ms".to_owned(),
            Some(json!({ "value": "1" })),
        ),
        (
            Method::PUT,
            "/broker-configs/log.retention.ms".to_owned(),
            Some(json!({ "value": "1" })),
        ),
        (
            Method::DELETE,
            "/broker-configs/log.retention.ms".to_owned(),
            None,
        ),
        (
            Method::POST,
            "/broker-configs:alter".to_owned(),
            Some(json!({ "data": [{ "name": "log.retention.ms", "value": "1" }] })),
        ),
    ];
    for (method, path, body) in &attempts {
        let reply = app
            .send(
                method.clone(),
                &v3(&cluster, path),
                Some(&viewer),
                body.as_ref(),
            )
            .await;
        let message = expect_error(&reply, 403, 403);
        assert!(message.contains("viewer"), "{message}");
    }
    assert!(app.get("/api/v1/tasks").await.expect(200)["total"] == 0);
    assert_eq!(kafka.partitions_of("shared").await, Some(1));

    // Without a token: 401 in the same envelope.
    let anonymous = app
        .send(Method::GET, &v3(&cluster, "/topics"), None, None)
        .await;
    expect_error(&anonymous, 401, 401);

    // A client token may create.
    let created = app
        .send(
            Method::POST,
            &v3(&cluster, "/topics"),
            Some(&client),
            Some(&json!({ "topic_name": "by-client" })),
        )
        .await
        .expect(201);
    assert_eq!(created["topic_name"], "by-client");
}
