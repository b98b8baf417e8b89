//! Refusals: every bad request gets its message and writes nothing.

use ferry_tests::{AppOptions, Backend, TestApp, kafka::TestKafka};
use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn topics_in_progress_refuse_the_whole_request_and_write_nothing() {
    let kafka = TestKafka::start().await;
    // No worker: accepted tasks stay pending.
    let app = TestApp::spawn_with(AppOptions::new(Backend::Sqlite).without_worker()).await;
    let cluster = add_cluster(&app, &kafka).await;

    let first = add_topic_task(
        &app,
        json!(cluster),
        json!([{ "topicName": "a" }, { "topicName": "b" }]),
    )
    .await;
    assert_eq!(first["result"], true, "{first}");

    let refused = add_topic_task(
        &app,
        json!(cluster.to_string()),
        json!([{ "topicName": "c" }, { "topicName": "b" }, { "topicName": "a" }]),
    )
    .await;
    assert_eq!(refused["result"], false);
    assert_eq!(refused["errCode"], 200);
    assert_eq!(
        refused["errMsg"],
        "There are topic tasks [b, a] already in adding status"
    );
    let tasks = topic_tasks(&app, cluster).await;
    assert_eq!(tasks.len(), 2, "nothing written for the refused request");
    assert!(tasks.iter().all(|t| t["subject"] != "c"));

    // A name repeated inside one request counts once.
    let dup = add_topic_task(
        &app,
        json!(cluster),
        json!([{ "topicName": "d" }, { "topicName": "d" }]),
    )
    .await;
    assert_eq!(dup["data"].as_array().unwrap().len(), 1, "{dup}");
    assert_eq!(topic_tasks(&app, cluster).await.len(), 3);
}

#[tokio::test]
async fn bad_requests_get_their_messages() {
    let kafka = TestKafka::start().await;
    let app = TestApp::spawn_with(AppOptions::new(Backend::Sqlite).without_worker()).await;
    let cluster = add_cluster(&app, &kafka).await;

    let cases = [
        (json!([{ "topicName": "bad name" }]), "contains ` `"),
        (json!([{ "topicName": "." }]), "is not allowed"),
        (json!([{ "topicName": "x".repeat(250) }]), "longer than 249"),
        (json!([]), "at least one topic"),
        (
            json!([{ "topicName": "p", "partitionCount": 0 }]),
            "partitionCount must be between 1 and 10000",
        ),
        (
            json!([{ "topicName": "r", "replicationFactor": 2 }]),
            "exceeds the cluster's 1 broker",
        ),
        (
            json!([{ "topicName": "c", "configs": { "retention.ms": "soon" } }]),
            "retention.ms",
        ),
        (
            json!([{ "topicName": "c", "configs": { "retension.ms": "1" } }]),
            "unknown topic config",
        ),
        // tansu's brokers report no rack (DescribeCluster answers without
        // one), so no region can be honoured there.
        (
            json!([{ "topicName": "g", "region": "east" }]),
            "region `east`: no broker is in that rack",
        ),
        (
            json!([{ "topicName": "g", "region": " " }]),
            "region must name a rack",
        ),
    ];
    for (topics, message) in cases {
        let reply = add_topic_task(&app, json!(cluster), topics.clone()).await;
        assert_eq!(reply["result"], false, "{topics} -> {reply}");
        let got = reply["errMsg"].as_str().unwrap_or_default();
        assert!(got.contains(message), "{topics}: `{got}` lacks `{message}`");
    }
    let unknown = add_topic_task(&app, json!(987), json!([{ "topicName": "x" }])).await;
    assert_eq!(unknown["errMsg"], "no such cluster");
    let no_user = app
        .post(
            "/v1/task?method=addTopicTask",
            &json!({ "clusterId": cluster, "addTopicTasks": [{ "topicName": "x" }] }),
        )
        .await
        .expect(200);
    assert_eq!(no_user["errMsg"], "user is required");
    let method = app
        .post(
            "/v1/task?method=deleteTopicTask",
            &json!({ "clusterId": cluster, "addTopicTasks": [], "user": "u" }),
        )
        .await
        .expect(200);
    assert_eq!(method["errMsg"], "no such method");
    let topic_method = app
        .post(
            "/v1/topic?method=queryCanRead",
            &json!({ "clusterId": cluster, "topicName": "x", "user": "u" }),
        )
        .await
        .expect(200);
    assert_eq!(topic_method["errMsg"], "no such method");
    let cluster_method = app
        .post("/v1/cluster?method=rename", &json!({ "user": "u" }))
        .await
        .expect(200);
    assert_eq!(cluster_method["errMsg"], "no such method");

    // Malformed JSON and wrong types: 400 in the TubeMQ envelope, not a 500.
    let token = app.admin_token.clone();
    let bad_json = app
        .send_raw(
            Method::POST,
            "/v1/task?method=addTopicTask",
            Some(&token),
            Some("application/json"),
            Some("{\"clusterId\":".into()),
        )
        .await;
    bad_json.expect_tubemq_failure(400);
    let wrong_type = app
        .post(
            "/v1/task?method=addTopicTask",
            &json!({ "clusterId": 1, "addTopicTasks": "orders", "user": "u" }),
        )
        .await;
    wrong_type.expect_tubemq_failure(400);

    assert!(
        topic_tasks(&app, cluster).await.is_empty(),
        "no refused request wrote a task"
    );
}
