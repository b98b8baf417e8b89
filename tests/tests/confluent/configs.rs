//! Topic configs read and changed through v3 and checked with a Kafka
//! client; broker configs, which tansu does not report; cluster-wide
//! defaults, which tansu accepts and does not keep.

use std::time::Duration;

use ferry_tests::{Backend, TestApp, kafka::TestKafka, tls_proxy::TestCa};
use rdkafka::admin::{AdminOptions, ResourceSpecifier};
use serde_json::{Value, json};

use crate::helpers::*;

/// The topic's configs as a Kafka client reads them.
async fn configs_seen_by_kafka(kafka: &TestKafka, topic: &str) -> Vec<(String, Option<String>)> {
    let admin = kafka.admin();
    let results = admin
        .describe_configs(
            &[ResourceSpecifier::Topic(topic)],
            &AdminOptions::new().request_timeout(Some(Duration::from_secs(10))),
        )
        .await
        .expect("DescribeConfigs");
    let resource = results
        .into_iter()
        .next()
        .expect("one resource")
        .expect("described");
    let mut entries: Vec<_> = resource
        .entries
        .into_iter()
        .map(|e| (e.name, e.value))
        .collect();
    entries.sort();
    entries
}

fn value_of(entries: &[(String, Option<String>)], name: &str) -> Option<String> {
    entries
        .iter()
        .find(|(n, _)| n == name)
        .and_then(|(_, v)| v.clone())
}

#[tokio::test]
async fn read_and_alter_topic_configs() {
    let kafka = TestKafka::start().await;
    let app = TestApp::spawn(Backend::Sqlite).await;
    let cluster = add_cluster(&app, &kafka).await;
    create_topic(
        &app,
        &cluster,
        json!({ "topic_name": "users", "configs": [{ "name": "cleanup.policy", "value": "compact" }] }),
    )
    .await;

    let list = app
        .get(&v3(&cluster, "/topics/users/configs"))
        .await
        .expect(200);
    let configs = list_data(&list, "KafkaTopicConfigList");
    let policy = configs
        .iter()
        .find(|c| c["name"] == "cleanup.policy")
        .unwrap_or_else(|| panic!("cleanup.policy listed: {list}"));
    assert_eq!(policy["kind"], "KafkaTopicConfig");
    assert_eq!(policy["value"], "compact");
    assert_eq!(policy["topic_name"], "users");
    assert_eq!(policy["is_sensitive"], false);
    assert!(
        policy["source"].is_string() && policy["synonyms"].is_array(),
        "{policy}"
    );
    assert_eq!(
        policy["metadata"]["resource_name"],
        format!("crn:///kafka={cluster}/topic=users/config=cleanup.policy")
    );
    let one = app
        .get(&v3(&cluster, "/topics/users/configs/cleanup.policy"))
        .await
        .expect(200);
    assert_eq!(&one, policy);

    // PUT: 204, then seen by ferry and by a Kafka client.
    app.put(
        &v3(&cluster, "/topics/users/configs/retention.ms"),
        &json!({ "value": "3600000" }),
    )
    .await
    .expect(204);
    let got = app
        .get(&v3(&cluster, "/topics/users/configs/retention.ms"))
        .await
        .expect(200);
    assert_eq!(got["value"], "3600000");
    let seen = configs_seen_by_kafka(&kafka, "users").await;
    assert_eq!(value_of(&seen, "retention.ms").as_deref(), Some("3600000"));

    // Batch alter: one SET, one DELETE (reset), in one task.
    app.post(
        &v3(&cluster, "/topics/users/configs:alter"),
        &json!({ "data": [
            { "name": "segment.ms", "value": "600000" },
            { "name": "retention.ms", "operation": "DELETE" },
        ] }),
    )
    .await
    .expect(204);
    let seen = configs_seen_by_kafka(&kafka, "users").await;
    assert_eq!(value_of(&seen, "segment.ms").as_deref(), Some("600000"));
    assert_ne!(value_of(&seen, "retention.ms").as_deref(), Some("3600000"));
    assert_eq!(
        value_of(&seen, "cleanup.policy").as_deref(),
        Some("compact")
    );

    // DELETE one config: reset to the default.
    app.delete(&v3(&cluster, "/topics/users/configs/segment.ms"))
        .await
        .expect(204);
    let seen = configs_seen_by_kafka(&kafka, "users").await;
    assert_ne!(value_of(&seen, "segment.ms").as_deref(), Some("600000"));

    let changes = tasks_of(&app, &cluster, "topic.config").await;
    assert_eq!(changes.len(), 3);
    assert!(
        changes.iter().all(|t| t["status"] == "succeeded"),
        "{changes:?}"
    );
    assert!(changes.iter().all(|t| t["subject"] == "users"));

    // A config a topic does not report is 404; an unknown topic 40401.
    expect_error(
        &app.get(&v3(&cluster, "/topics/users/configs/no.such.config"))
            .await,
        404,
        404,
    );
    expect_error(
        &app.get(&v3(&cluster, "/topics/nope/configs")).await,
        404,
        40401,
    );
}

#[tokio::test]
async fn broker_configs_answer_the_brokers_gap_clearly() {
    let kafka = TestKafka::start().await;
    let app = TestApp::spawn(Backend::Sqlite).await;
    let cluster = add_cluster(&app, &kafka).await;
    let brokers = app.get(&v3(&cluster, "/brokers")).await.expect(200);
    let broker = list_data(&brokers, "KafkaBrokerList")[0]["broker_id"]
        .as_i64()
        .unwrap();

    // tansu 0.6 reports no broker configs (an empty DescribeConfigs): the
    // lists are empty, and a change is refused for naming a config the
    // broker does not report, before any task is recorded.
    let listed = app
        .get(&v3(&cluster, &format!("/brokers/{broker}/configs")))
        .await
        .expect(200);
    let listed = list_data(&listed, "KafkaBrokerConfigList");
    assert!(
        listed.is_empty(),
        "tansu reports broker configs now: {listed:?}"
    );
    let cluster_wide = app.get(&v3(&cluster, "/broker-configs")).await.expect(200);
    assert!(list_data(&cluster_wide, "KafkaClusterConfigList").is_empty());
    expect_error(
        &app.get(&v3(
            &cluster,
            &format!("/brokers/{broker}/configs/log.retention.ms"),
        ))
        .await,
        404,
        404,
    );
    let change = app
        .put(
            &v3(
                &cluster,
                &format!("/brokers/{broker}/configs/log.retention.ms"),
            ),
            &json!({ "value": "1000" }),
        )
        .await;
    let message = expect_error(&change, 422, 422);
    assert!(message.contains("log.retention.ms"), "{message}");
    let batch = app
        .post(
            &v3(&cluster, &format!("/brokers/{broker}/configs:alter")),
            &json!({ "data": [{ "name": "log.retention.ms", "operation": "DELETE" }] }),
        )
        .await;
    expect_error(&batch, 422, 422);
    assert!(tasks_of(&app, &cluster, "broker.config").await.is_empty());

    // An unknown broker is 404 before the broker is asked anything.
    expect_error(
        &app.get(&v3(&cluster, "/brokers/999/configs")).await,
        404,
        404,
    );
}

/// The cluster-wide `broker.config` tasks (subject `cluster`), oldest first.
async fn cluster_default_tasks(app: &TestApp, cluster: &str) -> Vec<Value> {
    let mut tasks: Vec<Value> = tasks_of(app, cluster, "broker.config")
        .await
        .into_iter()
        .filter(|t| t["subject"] == "cluster")
        .collect();
    tasks.reverse();
    tasks
}

#[tokio::test]
async fn cluster_wide_defaults_are_changed_through_ferrys_own_connection() {
    // Over TLS, so that the connection librdkafka cannot make is checked
    // with the cluster's CA, as librdkafka's are.
    let ca = TestCa::new("ferry-tests-ca");
    let kafka = TestKafka::start_tls(&ca).await;
    let app = TestApp::spawn(Backend::Sqlite).await;
    let cluster = add_cluster(&app, &kafka).await;

    // Refused before any task: a config Kafka does not change cluster-wide,
    // a value of the wrong type, and an empty value.
    for (name, body, names) in [
        (
            "log.retention.hours",
            json!({ "value": "1" }),
            "log.retention.hours",
        ),
        (
            "message.max.bytes",
            json!({ "value": "big" }),
            "message.max.bytes",
        ),
        (
            "log.retention.ms",
            json!({ "value": "" }),
            "log.retention.ms",
        ),
    ] {
        let reply = app
            .put(&v3(&cluster, &format!("/broker-configs/{name}")), &body)
            .await;
        let message = expect_error(&reply, 422, 422);
        assert!(message.contains(names), "{message}");
    }
    // A dry run checks and changes nothing.
    app.put(
        &v3(
            &cluster,
            "/broker-configs/log.retention.ms?validate_only=true",
        ),
        &json!({ "value": "604800000" }),
    )
    .await
    .expect(204);
    assert!(cluster_default_tasks(&app, &cluster).await.is_empty());

    // Set, batch-alter and reset: each one task, sent to the broker, which
    // answers (tansu would fail a request it could not decode).
    app.put(
        &v3(&cluster, "/broker-configs/log.retention.ms"),
        &json!({ "value": "604800000" }),
    )
    .await
    .expect(204);
    app.post(
        &v3(&cluster, "/broker-configs:alter"),
        &json!({ "data": [
            { "name": "log.cleaner.threads", "value": "2" },
            { "name": "unclean.leader.election.enable", "operation": "DELETE" }
        ] }),
    )
    .await
    .expect(204);
    app.delete(&v3(&cluster, "/broker-configs/log.retention.ms"))
        .await
        .expect(204);

    let tasks = cluster_default_tasks(&app, &cluster).await;
    assert_eq!(tasks.len(), 3, "{tasks:?}");
    for task in &tasks {
        assert_eq!(task["status"], "succeeded", "{task}");
        assert_eq!(task["result"]["resource"], "cluster", "{task}");
    }
    assert_eq!(
        tasks[0]["result"]["applied"],
        json!([{ "name": "log.retention.ms", "value": "604800000", "operation": "SET" }])
    );
    assert_eq!(
        tasks[1]["result"]["applied"][1],
        json!({ "name": "unclean.leader.election.enable", "operation": "DELETE" })
    );
    assert_eq!(
        tasks[2]["result"]["applied"],
        json!([{ "name": "log.retention.ms", "operation": "DELETE" }])
    );
}
