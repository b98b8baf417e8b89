//! Shared steps of the Confluent v3 tests.

use ferry_tests::{Reply, TestApp, kafka::TestKafka};
use serde_json::Value;

/// Registers the broker through the native API (trusting its CA when it is
/// reached over TLS); returns ferry's cluster id.
pub async fn add_cluster(app: &TestApp, kafka: &TestKafka) -> String {
    let body = app
        .post(
            "/api/v1/clusters",
            &kafka.registration(&format!("tansu-{}", kafka.port)),
        )
        .await
        .expect(201);
    body["id"].as_str().expect("cluster id").to_owned()
}

/// `/v3/clusters/{cluster}{suffix}`.
pub fn v3(cluster: &str, suffix: &str) -> String {
    format!("/v3/clusters/{cluster}{suffix}")
}

/// Asserts a Confluent error: the HTTP status, a JSON body with this
/// `error_code` and a message. Returns the message.
pub fn expect_error(reply: &Reply, status: u16, code: i64) -> String {
    assert_eq!(reply.status.as_u16(), status, "unexpected status: {reply}");
    let body = reply.json();
    assert_eq!(body["error_code"], code, "unexpected error_code: {reply}");
    let message = body["message"].as_str().unwrap_or_default().to_owned();
    assert!(!message.is_empty(), "error without a message: {reply}");
    message
}

/// The `data` of a v3 list, after checking its `kind` and `metadata.self`.
pub fn list_data(body: &Value, kind: &str) -> Vec<Value> {
    assert_eq!(body["kind"], kind, "{body}");
    assert!(
        body["metadata"]["self"]
            .as_str()
            .is_some_and(|s| s.starts_with("http://")),
        "{body}"
    );
    assert!(body["metadata"]["next"].is_null(), "{body}");
    body["data"].as_array().cloned().expect("data is a list")
}

/// Tasks of a kind on a cluster.
pub async fn tasks_of(app: &TestApp, cluster: &str, kind: &str) -> Vec<Value> {
    let page = app
        .get(&format!(
            "/api/v1/tasks?clusterId={cluster}&kind={kind}&pageSize=100"
        ))
        .await
        .expect(200);
    page["data"].as_array().cloned().unwrap_or_default()
}

/// Creates a topic through v3 and expects 201.
pub async fn create_topic(app: &TestApp, cluster: &str, body: Value) -> Value {
    app.post(&v3(cluster, "/topics"), &body).await.expect(201)
}
