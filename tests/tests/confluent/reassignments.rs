//! Partition reassignments in progress (ListPartitionReassignments over
//! ferry's own connection). tansu 0.6.0 cannot move replicas: it answers
//! with every partition and nothing being added or removed, which is no
//! move in progress. So the lists are proven empty in Confluent's shape (the
//! request reaching the broker and its answer read), the partition route
//! answers 404, and the links lead there.

use ferry_tests::{Backend, TestApp, kafka::TestKafka};

use crate::helpers::*;

async fn reassignments_are_listed_in_confluents_shape(backend: Backend) {
    let kafka = TestKafka::start().await;
    let app = TestApp::spawn(backend).await;
    let cluster = add_cluster(&app, &kafka).await;
    kafka.create_topic("moving", 2).await;

    let all_path = v3(&cluster, "/topics/-/partitions/-/reassignment");
    let one = app.get(&v3(&cluster, "")).await.expect(200);
    let link = one["partition_reassignments"]["related"]
        .as_str()
        .expect("the cluster links to its reassignments");
    assert!(link.ends_with(&all_path), "{one}");
    let all = app.get(&all_path).await.expect(200);
    assert!(list_data(&all, "KafkaReassignmentList").is_empty(), "{all}");
    assert!(
        all["metadata"]["self"]
            .as_str()
            .unwrap()
            .ends_with(&all_path),
        "{all}"
    );

    let topic = app
        .get(&v3(&cluster, "/topics/moving/partitions/-/reassignment"))
        .await
        .expect(200);
    assert!(
        list_data(&topic, "KafkaReassignmentList").is_empty(),
        "{topic}"
    );

    let partition = app
        .get(&v3(&cluster, "/topics/moving/partitions/1"))
        .await
        .expect(200);
    let link = partition["reassignment"]["related"]
        .as_str()
        .expect("a partition links to its reassignment");
    assert!(
        link.ends_with(&v3(&cluster, "/topics/moving/partitions/1/reassignment")),
        "{partition}"
    );
    let none = app
        .get(&v3(&cluster, "/topics/moving/partitions/1/reassignment"))
        .await;
    assert!(expect_error(&none, 404, 404).contains("no reassignment in progress"));

    let unknown = app
        .get(&v3(&cluster, "/topics/nope/partitions/-/reassignment"))
        .await;
    expect_error(&unknown, 404, 40401);
    let unknown = app
        .get(&v3(&cluster, "/topics/moving/partitions/7/reassignment"))
        .await;
    expect_error(&unknown, 404, 40402);
}

ferry_tests::both_backends!(reassignments_are_listed_in_confluents_shape);

/// A reassignment is a `partition.reassign` task: its moves are checked
/// against the cluster, its throttle set and removed, and
/// AlterPartitionReassignments sent to the controller. tansu 0.6.0 has no
/// AlterPartitionReassignments, so the request is proven to reach it and
/// its refusal to reach the caller as the task's clear, permanent failure.
async fn a_reassignment_reaches_the_broker_as_a_task(backend: Backend) {
    let kafka = TestKafka::start().await;
    let app = TestApp::spawn(backend).await;
    let cluster = add_cluster(&app, &kafka).await;
    kafka.create_topic("moving", 2).await;
    let broker = app.get(&v3(&cluster, "/brokers")).await.expect(200)["data"][0]["broker_id"]
        .as_i64()
        .expect("a broker id");
    let path = format!("/api/v1/clusters/{cluster}/reassignments");

    // Moves the cluster cannot make fail the task at once, naming why.
    let task = app
        .post(
            &path,
            &serde_json::json!({ "partitions": [{ "topic": "moving", "partition": 0, "replicas": [999] }] }),
        )
        .await
        .expect(202);
    let failed = app
        .wait_finished(task["id"].as_str().expect("task id"))
        .await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert!(
        failed["lastError"]
            .as_str()
            .unwrap_or_default()
            .contains("no broker 999"),
        "{failed}"
    );
    // Replicas that repeat a broker are refused before a task is recorded.
    app.post(
        &path,
        &serde_json::json!({ "partitions": [{ "topic": "moving", "partition": 0, "replicas": [broker, broker] }] }),
    )
    .await
    .expect(400);

    // A possible move, throttled: it reaches the broker, which refuses it.
    let task = app
        .post(
            &path,
            &serde_json::json!({
                "partitions": [{ "topic": "moving", "partition": 1, "replicas": [broker] }],
                "throttleBytesPerSecond": 1048576
            }),
        )
        .await
        .expect(202);
    assert_eq!(task["kind"], "partition.reassign", "{task}");
    let refused = app
        .wait_finished(task["id"].as_str().expect("task id"))
        .await;
    assert_eq!(refused["status"], "failed", "{refused}");
    assert_eq!(refused["failure"], "permanent", "{refused}");
    let error = refused["lastError"].as_str().unwrap_or_default();
    assert!(
        error.contains("AlterPartitionReassignments") && error.contains("does not support"),
        "{refused}"
    );
    // Its progress was reported while it ran: the moves it was making.
    assert_eq!(
        refused["result"]["targets"][0]["topic"], "moving",
        "{refused}"
    );

    // Broker removal: the only broker cannot be emptied, and the refusal
    // names why; remove-broker-tasks reports it in the seed's shape.
    expect_error(&app.delete(&v3(&cluster, "/brokers/999")).await, 404, 404);
    let message = expect_error(
        &app.delete(&v3(&cluster, &format!("/brokers/{broker}")))
            .await,
        409,
        40903,
    );
    assert!(message.contains("no other broker"), "{message}");
    let list = app
        .get(&v3(&cluster, "/remove-broker-tasks"))
        .await
        .expect(200);
    let removals = list_data(&list, "KafkaRemoveBrokerTaskList");
    assert_eq!(removals.len(), 1, "{list}");
    let one = app
        .get(&v3(&cluster, &format!("/remove-broker-tasks/{broker}")))
        .await
        .expect(200);
    assert_eq!(one, removals[0]);
    assert_eq!(one["kind"], "KafkaRemoveBrokerTask");
    assert_eq!(one["broker_id"], broker);
    assert_eq!(one["partition_reassignment_status"], "FAILED", "{one}");
    assert_eq!(one["broker_shutdown_status"], "CANCELED", "{one}");
    assert_eq!(one["error_code"], 50002, "{one}");
    assert!(
        one["error_message"]
            .as_str()
            .unwrap_or_default()
            .contains("no other broker"),
        "{one}"
    );
    expect_error(
        &app.get(&v3(&cluster, "/remove-broker-tasks/7")).await,
        404,
        404,
    );
}

ferry_tests::both_backends!(a_reassignment_reaches_the_broker_as_a_task);
