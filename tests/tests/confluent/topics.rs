//! Clusters, topics, partitions and brokers: the happy paths, each seen with a
//! Kafka client too.

use ferry_tests::{AppOptions, Backend, TestApp, kafka::TestKafka};
use serde_json::json;

use crate::helpers::*;

async fn topic_lifecycle(backend: Backend) {
    let kafka = TestKafka::start().await;
    let app = TestApp::spawn(backend).await;
    let cluster = add_cluster(&app, &kafka).await;

    // The cluster, as listed and alone, with links to its resources.
    let clusters = app.get("/v3/clusters").await.expect(200);
    let listed = list_data(&clusters, "KafkaClusterList");
    assert_eq!(listed.len(), 1, "{clusters}");
    let one = app.get(&v3(&cluster, "")).await.expect(200);
    assert_eq!(one, listed[0]);
    assert_eq!(one["kind"], "KafkaCluster");
    assert_eq!(one["cluster_id"], cluster);
    assert_eq!(
        one["metadata"]["resource_name"],
        format!("crn:///kafka={cluster}")
    );
    let self_link = one["metadata"]["self"].as_str().unwrap();
    assert!(
        self_link.ends_with(&format!("/v3/clusters/{cluster}")),
        "{one}"
    );
    assert_eq!(
        one["topics"]["related"],
        format!("{self_link}/topics"),
        "{one}"
    );
    assert!(one["controller"]["related"].is_string(), "{one}");

    // Create: 201 with the topic, which a Kafka client then sees.
    let created = create_topic(
        &app,
        &cluster,
        json!({
            "topic_name": "orders",
            "partitions_count": 3,
            "replication_factor": 1,
            "configs": [{ "name": "cleanup.policy", "value": "compact" }],
        }),
    )
    .await;
    assert_eq!(created["kind"], "KafkaTopic");
    assert_eq!(created["topic_name"], "orders");
    assert_eq!(created["partitions_count"], 3);
    assert_eq!(created["replication_factor"], 1);
    assert_eq!(created["is_internal"], false);
    assert_eq!(
        created["metadata"]["resource_name"],
        format!("crn:///kafka={cluster}/topic=orders")
    );
    assert!(
        created["partitions"]["related"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/v3/clusters/{cluster}/topics/orders/partitions")),
        "{created}"
    );
    assert_eq!(kafka.partitions_of("orders").await, Some(3));
    kafka.produce("orders", "first").await.expect("writable");

    // The creation is a task like any other, visible in the native API.
    let creates = tasks_of(&app, &cluster, "topic.create").await;
    assert_eq!(creates.len(), 1);
    assert_eq!(creates[0]["status"], "succeeded");
    assert_eq!(creates[0]["subject"], "orders");

    // Get and list.
    let got = app.get(&v3(&cluster, "/topics/orders")).await.expect(200);
    assert_eq!(got["partitions_count"], 3);
    assert_eq!(got["topic_name"], "orders");
    let topics = app.get(&v3(&cluster, "/topics")).await.expect(200);
    let names: Vec<_> = list_data(&topics, "KafkaTopicList")
        .iter()
        .map(|t| t["topic_name"].as_str().unwrap().to_owned())
        .collect();
    assert!(names.contains(&"orders".to_owned()), "{topics}");

    // Brokers: tansu is one broker.
    let brokers = app.get(&v3(&cluster, "/brokers")).await.expect(200);
    let brokers = list_data(&brokers, "KafkaBrokerList");
    assert_eq!(brokers.len(), 1);
    let broker_id = brokers[0]["broker_id"].as_i64().expect("broker id");
    assert_eq!(brokers[0]["port"], kafka.port);
    let broker = app
        .get(&v3(&cluster, &format!("/brokers/{broker_id}")))
        .await
        .expect(200);
    assert_eq!(broker["kind"], "KafkaBroker");
    assert_eq!(
        broker["metadata"]["resource_name"],
        format!("crn:///kafka={cluster}/broker={broker_id}")
    );
    let held = app
        .get(&v3(
            &cluster,
            &format!("/brokers/{broker_id}/partition-replicas"),
        ))
        .await
        .expect(200);
    let held = list_data(&held, "KafkaReplicaList");
    assert!(
        held.iter().filter(|r| r["topic_name"] == "orders").count() == 3,
        "{held:?}"
    );

    // Delete: 204, gone for a Kafka client, and a `topic.delete` task.
    app.delete(&v3(&cluster, "/topics/orders"))
        .await
        .expect(204);
    assert_eq!(kafka.partitions_of("orders").await, None);
    let deletes = tasks_of(&app, &cluster, "topic.delete").await;
    assert_eq!(deletes.len(), 1);
    assert_eq!(deletes[0]["status"], "succeeded");
    expect_error(&app.get(&v3(&cluster, "/topics/orders")).await, 404, 40401);

    // Every change is audited with the v3 details.
    let audit = app.get("/api/v1/audit?pageSize=50").await.expect(200);
    let entries = audit["data"].as_array().unwrap();
    let v3_changes: Vec<_> = entries
        .iter()
        .filter(|e| e["path"].as_str().unwrap_or_default().starts_with("/v3/"))
        .collect();
    assert_eq!(v3_changes.len(), 2, "{audit}");
    assert!(v3_changes.iter().all(|e| e["detail"]["topic"] == "orders"));
}

ferry_tests::both_backends!(topic_lifecycle);

#[tokio::test]
async fn partitions_replicas_and_offsets_after_producing() {
    let kafka = TestKafka::start().await;
    let app = TestApp::spawn(Backend::Sqlite).await;
    let cluster = add_cluster(&app, &kafka).await;
    create_topic(
        &app,
        &cluster,
        json!({ "topic_name": "events", "partitions_count": 2 }),
    )
    .await;
    kafka.produce_one_by_one("events", 1, 5).await;

    let list = app
        .get(&v3(&cluster, "/topics/events/partitions"))
        .await
        .expect(200);
    let partitions = list_data(&list, "KafkaPartitionList");
    assert_eq!(partitions.len(), 2);
    let p1 = &partitions[1];
    assert_eq!(p1["kind"], "KafkaPartition");
    assert_eq!(p1["partition_id"], 1);
    assert_eq!(
        p1["metadata"]["resource_name"],
        format!("crn:///kafka={cluster}/topic=events/partition=1")
    );
    let leader = p1["leader"]["related"].as_str().expect("a leader");
    assert!(
        leader.contains("/topics/events/partitions/1/replicas/"),
        "{p1}"
    );
    let one = app
        .get(&v3(&cluster, "/topics/events/partitions/1"))
        .await
        .expect(200);
    assert_eq!(&one, p1);

    // The leader is a replica, and in sync.
    let replicas = app
        .get(&v3(&cluster, "/topics/events/partitions/1/replicas"))
        .await
        .expect(200);
    let replicas = list_data(&replicas, "KafkaReplicaList");
    assert!(!replicas.is_empty());
    let lead = replicas
        .iter()
        .find(|r| r["is_leader"] == true)
        .expect("one replica leads");
    assert_eq!(lead["is_in_sync"], true, "{lead}");
    let broker = lead["broker_id"].as_i64().unwrap();
    let replica = app
        .get(&v3(
            &cluster,
            &format!("/topics/events/partitions/1/replicas/{broker}"),
        ))
        .await
        .expect(200);
    assert_eq!(&replica, lead);

    // Offsets: five records in partition 1, none in partition 0.
    let offsets = app
        .get(&v3(&cluster, "/topics/events/partitions/1/offsets"))
        .await
        .expect(200);
    assert_eq!(offsets["beginning_offset"], 0, "{offsets}");
    assert_eq!(offsets["end_offset"], 5, "{offsets}");
    let empty = app
        .get(&v3(&cluster, "/topics/events/partitions/0/offsets"))
        .await
        .expect(200);
    assert_eq!(empty["end_offset"], 0, "{empty}");
}

#[tokio::test]
async fn a_change_that_outlives_the_wait_answers_202_with_its_task() {
    let kafka = TestKafka::start().await;
    // No worker yet, and a short wait: the task cannot finish in time.
    let app = TestApp::spawn_with(
        AppOptions::new(Backend::Sqlite)
            .without_worker()
            .env("FERRY_API__TASK_WAIT_MS", "300"),
    )
    .await;
    let cluster = add_cluster(&app, &kafka).await;

    let reply = app
        .post(&v3(&cluster, "/topics"), &json!({ "topic_name": "later" }))
        .await;
    let accepted = reply.expect(202);
    assert_eq!(accepted["kind"], "FerryTask");
    assert_eq!(accepted["task_kind"], "topic.create");
    assert_eq!(accepted["status"], "pending");
    let task_id = accepted["task_id"].as_str().unwrap().to_owned();
    let location = reply.header("location").expect("a Location header");
    assert!(
        location.ends_with(&format!("/api/v1/tasks/{task_id}")),
        "{location}"
    );
    assert_eq!(accepted["metadata"]["self"], location.as_str());

    // The same call again while it is pending: refused, nothing recorded.
    let again = app
        .post(&v3(&cluster, "/topics"), &json!({ "topic_name": "later" }))
        .await;
    expect_error(&again, 409, 40901);

    // A worker picks the task up and the topic appears.
    let _worker = app.start_worker("late-worker", &[]);
    let task = app.wait_finished(&task_id).await;
    assert_eq!(task["status"], "succeeded", "{task}");
    assert_eq!(kafka.partitions_of("later").await, Some(1));
    assert_eq!(tasks_of(&app, &cluster, "topic.create").await.len(), 1);
}
