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
