//! Idempotency, retries and crashes.

use std::time::Duration;

use ferry_tests::{AppOptions, Backend, TestApp, eventually, kafka::TestKafka};
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn existing_topic_with_same_settings_succeeds_and_with_other_settings_fails() {
    let kafka = TestKafka::start().await;
    kafka.create_topic("same", 2).await;
    kafka.create_topic("other", 2).await;
    let app = TestApp::spawn(Backend::Sqlite).await;
    let cluster = add_cluster(&app, &kafka).await;
    add_topic_task(
        &app,
        json!(cluster),
        json!([{ "topicName": "same", "partitionCount": 2 }, { "topicName": "other", "partitionCount": 4 }]),
    )
    .await;
    let tasks = wait_all_finished(&app, cluster, 2).await;
    let same = tasks.iter().find(|t| t["subject"] == "same").unwrap();
    assert_eq!(same["status"], "succeeded", "{same}");
    assert_eq!(same["result"]["created"], false);
    let other = tasks.iter().find(|t| t["subject"] == "other").unwrap();
    assert_eq!(other["status"], "failed", "{other}");
    assert_eq!(other["attempts"], 1, "a permanent failure is not retried");
    assert_eq!(
        other["lastError"],
        "topic other already exists with 2 partitions, requested 4"
    );
    assert_eq!(
        kafka.partitions_of("other").await,
        Some(2),
        "the existing topic is untouched"
    );

    // A finished task does not block a new request for the same topic.
    let again = add_topic_task(
        &app,
        json!(cluster),
        json!([{ "topicName": "same", "partitionCount": 2 }]),
    )
    .await;
    assert_eq!(again["result"], true, "{again}");

    // The worker now knows the brokers and sends CreateTopics without
    // looking first: an existing topic is still told apart, through the
    // broker's TopicAlreadyExists and the metadata that follows.
    kafka.create_topic("late-other", 2).await;
    add_topic_task(
        &app,
        json!(cluster),
        json!([{ "topicName": "late-other", "partitionCount": 4 }, { "topicName": "late-new" }]),
    )
    .await;
    let tasks = wait_all_finished(&app, cluster, 5).await;
    let same = tasks
        .iter()
        .filter(|t| t["subject"] == "same")
        .find(|t| t["status"] == "succeeded" && t["attempts"] == 1)
        .unwrap();
    assert_eq!(same["result"]["created"], false, "{same}");
    let late = tasks.iter().find(|t| t["subject"] == "late-other").unwrap();
    assert_eq!(late["status"], "failed", "{late}");
    assert_eq!(
        late["lastError"],
        "topic late-other already exists with 2 partitions, requested 4"
    );
    let new = tasks.iter().find(|t| t["subject"] == "late-new").unwrap();
    assert_eq!(new["status"], "succeeded", "{new}");
    assert_eq!(new["result"]["created"], true, "{new}");
    assert_eq!(kafka.partitions_of("late-other").await, Some(2));
}

#[tokio::test]
async fn tasks_retry_while_the_broker_is_down_and_succeed_when_it_is_back() {
    let mut kafka = TestKafka::start().await;
    let app = TestApp::spawn(Backend::Sqlite).await;
    let cluster = add_cluster(&app, &kafka).await;
    kafka.stop();
    let reply = add_topic_task(
        &app,
        json!(cluster),
        json!([{ "topicName": "late1" }, { "topicName": "late2" }]),
    )
    .await;
    assert_eq!(
        reply["result"], true,
        "accepted while the broker is down: {reply}"
    );

    eventually(
        "a retry after a failed attempt",
        Duration::from_secs(60),
        || async {
            let tasks = topic_tasks(&app, cluster).await;
            let retried = tasks
                .iter()
                .any(|t| t["attempts"].as_i64().unwrap_or(0) >= 2 && !t["lastError"].is_null());
            if retried { Ok(()) } else { Err(tasks) }
        },
    )
    .await;
    let (code, message) = query_can_write(&app, cluster, "late1").await;
    assert_eq!(code, -1, "queryCanWrite reports the outage: {message}");

    kafka.restart().await;
    let tasks = wait_all_finished(&app, cluster, 2).await;
    assert_eq!(
        subject_status(&tasks),
        vec![
            ("late1".into(), "succeeded".into()),
            ("late2".into(), "succeeded".into())
        ]
    );
    assert_eq!(kafka.partitions_of("late1").await, Some(1));
    assert_eq!(query_can_write(&app, cluster, "late2").await.0, 0);
}

async fn worker_killed_mid_batch_loses_nothing(backend: Backend) {
    let mut kafka = TestKafka::start().await;
    let app = TestApp::spawn_with(AppOptions::new(backend).without_worker()).await;
    let cluster = add_cluster(&app, &kafka).await;
    let topics: Vec<_> = (0..20)
        .map(|i| json!({ "topicName": format!("batch-{i:02}"), "partitionCount": 2 }))
        .collect();
    add_topic_task(&app, json!(cluster), json!(topics)).await;

    // With the broker frozen, the doomed worker's batch hangs talking to the
    // broker while its tasks are running, so the kill lands mid-batch; short
    // heartbeats make the takeover quick.
    let fast = [
        ("FERRY_WORKER__HEARTBEAT_SECONDS", "1"),
        ("FERRY_WORKER__MISSED_HEARTBEATS", "2"),
    ];
    kafka.freeze();
    let mut doomed = app.start_worker("doomed", &fast);
    eventually(
        "topic tasks to be running on the doomed worker",
        Duration::from_secs(60),
        || async {
            let tasks = topic_tasks(&app, cluster).await;
            let running = tasks.iter().filter(|t| t["status"] == "running").count();
            if running > 0 {
                Ok(())
            } else {
                Err(subject_status(&tasks))
            }
        },
    )
    .await;
    doomed.kill();
    kafka.thaw();

    let _survivor = app.start_worker("survivor", &fast);
    let tasks = wait_all_finished(&app, cluster, 20).await;
    for task in &tasks {
        assert_eq!(task["status"], "succeeded", "{task}");
    }
    assert!(
        tasks.iter().any(|t| t["worker"] == "survivor"),
        "the survivor finished the batch"
    );
    let created: Vec<_> = kafka
        .topics()
        .await
        .into_iter()
        .filter(|(n, _)| n.starts_with("batch-"))
        .collect();
    assert_eq!(
        created.len(),
        20,
        "every topic exists exactly once: {created:?}"
    );
    assert!(created.iter().all(|(_, p)| *p == 2), "{created:?}");
}

ferry_tests::both_backends!(worker_killed_mid_batch_loses_nothing);
