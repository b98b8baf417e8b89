//! A changefeed into a Kafka cluster reached over TLS: the sink's producer
//! and the topic's creation both use the registered cluster's TLS settings.

use ferry_tests::{AppOptions, Backend, kafka::TestKafka, tls_proxy::TestCa};
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn a_changefeed_delivers_to_a_cluster_reached_over_tls() {
    let ca = TestCa::new("ferry-tests-ca");
    let kafka = TestKafka::start_tls(&ca).await;
    let rig = Rig::start_on(AppOptions::new(Backend::Sqlite), kafka).await;
    let db = rig.db.clone();
    rig.up(&format!("CREATE DATABASE {db}")).await;
    rig.up(&format!(
        "CREATE TABLE {db}.items (id INT PRIMARY KEY, name VARCHAR(16))"
    ))
    .await;
    let kafka_cluster = rig.register_kafka().await;
    let id = rig
        .create(json!({
            "targetClusterId": kafka_cluster, "topicName": rig.topic, "partitions": 2,
            "replicationFactor": 1, "protocol": "canal-json",
        }))
        .await;
    rig.wait_status(&id, "Normal").await;
    for i in 1..=3 {
        rig.up(&format!("INSERT INTO {db}.items VALUES ({i}, 'item-{i}')"))
            .await;
    }

    // Read back over TLS by a client of our own.
    let inserts = |events: &[Event]| {
        events
            .iter()
            .filter(|e| e.kind == Kind::Insert && e.table == "items")
            .count()
    };
    let events = rig
        .events_until(Protocol::CanalJson, move |events| inserts(events) >= 3)
        .await;
    assert_eq!(inserts(&events), 3, "{events:#?}");
    let mut names: Vec<_> = events
        .iter()
        .filter(|e| e.kind == Kind::Insert)
        .filter_map(|e| e.data.get("name").cloned().flatten())
        .collect();
    names.sort();
    assert_eq!(names, ["item-1", "item-2", "item-3"]);
    assert_eq!(rig.kafka.partitions_of(&rig.topic).await, Some(2));
}
