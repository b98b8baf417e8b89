//! Clusters reached over TLS: the broker sits behind a TLS front whose
//! certificate a throwaway CA signed (tansu has no TLS listener of its own).

use ferry_tests::{Backend, TestApp, kafka::TestKafka, tls_proxy::TestCa};
use serde_json::{Value, json};

use crate::helpers::*;

/// Registers the broker through the native API with `tls`; returns its id.
async fn add_tls_cluster(app: &TestApp, kafka: &TestKafka, name: &str, tls: Value) -> i64 {
    let body = app
        .post(
            "/api/v1/clusters",
            &json!({ "name": name, "kind": "kafka", "bootstrapServers": kafka.bootstrap(), "tls": tls }),
        )
        .await
        .expect(201);
    body["id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .expect("cluster id")
}

/// `/v1/cluster`'s entry for one cluster.
async fn cluster_entry(app: &TestApp, cluster: i64) -> Value {
    let reply = app
        .get(&format!("/v1/cluster?clusterId={cluster}"))
        .await
        .expect(200);
    ferry_tests::reply::tubemq_cluster_rows(&reply)[0].clone()
}

#[tokio::test]
async fn topics_are_created_on_a_cluster_reached_over_tls() {
    let ca = TestCa::new("ferry-tests-ca");
    let kafka = TestKafka::start_tls(&ca).await;
    let app = TestApp::spawn(Backend::Sqlite).await;
    let cluster = add_tls_cluster(
        &app,
        &kafka,
        "tls",
        json!({ "enabled": true, "caPem": ca.pem }),
    )
    .await;

    let entry = cluster_entry(&app, cluster).await;
    assert_eq!(entry["reachable"], true, "{entry}");
    assert_eq!(entry["brokerCount"], 1, "{entry}");

    let reply = add_topic_task(
        &app,
        json!(cluster),
        json!([{ "topicName": "secure-a", "partitionCount": 2 }, { "topicName": "secure-b" }]),
    )
    .await;
    assert_eq!(reply["result"], true, "{reply}");
    let tasks = wait_all_finished(&app, cluster, 2).await;
    for task in &tasks {
        assert_eq!(task["status"], "succeeded", "{task}");
    }
    // Checked by a client of our own, over the same TLS front.
    assert_eq!(kafka.partitions_of("secure-a").await, Some(2));
    assert_eq!(kafka.partitions_of("secure-b").await, Some(1));
    assert_eq!(query_can_write(&app, cluster, "secure-a").await.0, 0);
}

#[tokio::test]
async fn an_untrusted_certificate_is_refused_unless_verification_is_off() {
    let ca = TestCa::new("ferry-tests-ca");
    let stranger = TestCa::new("someone-else");
    let kafka = TestKafka::start_tls(&ca).await;
    let app = TestApp::spawn(Backend::Sqlite).await;

    let untrusted = add_tls_cluster(
        &app,
        &kafka,
        "untrusted",
        json!({ "enabled": true, "caPem": stranger.pem }),
    )
    .await;
    let entry = cluster_entry(&app, untrusted).await;
    assert_eq!(entry["reachable"], false, "{entry}");
    // The error names the cause, not only librdkafka's generic code.
    assert!(
        entry["error"]
            .as_str()
            .is_some_and(|e| e.contains("certificate verify failed")),
        "the cluster is listed with its error: {entry}"
    );
    let (code, message) = query_can_write(&app, untrusted, "anything").await;
    assert_ne!(code, 0, "nothing is read through an untrusted broker");
    assert!(message.contains("certificate verify failed"), "{message}");

    let unverified = add_tls_cluster(
        &app,
        &kafka,
        "unverified",
        json!({ "enabled": true, "insecureSkipVerify": true }),
    )
    .await;
    let entry = cluster_entry(&app, unverified).await;
    assert_eq!(entry["reachable"], true, "{entry}");
    assert_eq!(entry["brokerCount"], 1, "{entry}");

    // Plaintext against a TLS listener fails too: TLS is really in use.
    let plaintext = add_tls_cluster(&app, &kafka, "plaintext", json!({ "enabled": false })).await;
    let entry = cluster_entry(&app, plaintext).await;
    assert_eq!(entry["reachable"], false, "{entry}");
}
