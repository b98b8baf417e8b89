//! Shared steps of the topic-task tests.

use std::time::Duration;

use ferry_tests::{TestApp, eventually, kafka::TestKafka};
use serde_json::{Value, json};

pub const TOPIC_TIMEOUT: Duration = Duration::from_secs(90);

/// Registers the broker through TubeMQ's `method=add`; returns the cluster id.
pub async fn add_cluster(app: &TestApp, kafka: &TestKafka) -> i64 {
    let reply = app
        .post(
            "/v1/cluster?method=add",
            &json!({ "clusterName": format!("tansu-{}", kafka.port), "bootstrapServers": kafka.bootstrap(), "user": "ops" }),
        )
        .await
        .expect(200);
    assert_eq!(reply["result"], true, "{reply}");
    reply["data"]["clusterId"]
        .as_i64()
        .expect("clusterId is a number")
}

/// Sends addTopicTask and returns the whole TubeMQ result.
pub async fn add_topic_task(app: &TestApp, cluster: Value, topics: Value) -> Value {
    app.post(
        "/v1/task?method=addTopicTask",
        &json!({ "clusterId": cluster, "addTopicTasks": topics, "user": "alice", "type": "op_query" }),
    )
    .await
    .expect(200)
}

/// The topic tasks of a cluster, newest first.
pub async fn topic_tasks(app: &TestApp, cluster: i64) -> Vec<Value> {
    let page = app
        .get(&format!(
            "/api/v1/tasks?clusterId={cluster}&kind=topic.create&pageSize=500"
        ))
        .await
        .expect(200);
    page["data"].as_array().cloned().unwrap_or_default()
}

/// Waits until every topic task of the cluster has finished; returns them.
pub async fn wait_all_finished(app: &TestApp, cluster: i64, expected: usize) -> Vec<Value> {
    eventually("every topic task to finish", TOPIC_TIMEOUT, || async {
        let tasks = topic_tasks(app, cluster).await;
        let finished = tasks
            .iter()
            .filter(|t| matches!(t["status"].as_str(), Some("succeeded" | "failed")))
            .count();
        if tasks.len() == expected && finished == expected {
            Ok(tasks)
        } else {
            Err(tasks
                .iter()
                .map(|t| format!("{} {} {}", t["subject"], t["status"], t["lastError"]))
                .collect::<Vec<_>>())
        }
    })
    .await
}

/// queryCanWrite's `(errCode, errMsg)`.
pub async fn query_can_write(app: &TestApp, cluster: i64, topic: &str) -> (i64, String) {
    let body = app
        .post(
            "/v1/topic?method=queryCanWrite",
            &json!({ "clusterId": cluster.to_string(), "topicName": topic, "user": "alice" }),
        )
        .await
        .expect(200);
    (
        body["errCode"].as_i64().expect("errCode"),
        body["errMsg"].as_str().unwrap_or_default().to_owned(),
    )
}

pub fn subject_status(tasks: &[Value]) -> Vec<(String, String)> {
    let mut pairs: Vec<_> = tasks
        .iter()
        .map(|t| {
            (
                t["subject"].as_str().unwrap_or_default().to_owned(),
                t["status"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    pairs.sort();
    pairs
}
