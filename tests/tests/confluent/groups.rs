//! A real consumer group, part-way through a topic: its members, their
//! assignments and its lag.

use ferry_tests::{Backend, TestApp, eventually, kafka::TestKafka};
use serde_json::{Value, json};
use std::time::Duration;

use crate::helpers::*;

#[tokio::test]
async fn consumer_group_members_assignments_and_lag() {
    let kafka = TestKafka::start().await;
    let app = TestApp::spawn(Backend::Sqlite).await;
    let cluster = add_cluster(&app, &kafka).await;
    create_topic(
        &app,
        &cluster,
        json!({ "topic_name": "payments", "partitions_count": 1 }),
    )
    .await;
    kafka.produce_one_by_one("payments", 0, 10).await;
    // Consumes and commits 4 of the 10 records, and stays in the group.
    let _member = kafka
        .consume_and_commit("billing", "billing-1", "payments", 4)
        .await;

    // Listed and described once the group is stable.
    let group: Value = eventually(
        "the group to be stable",
        Duration::from_secs(30),
        || async {
            let reply = app.get(&v3(&cluster, "/consumer-groups/billing")).await;
            match reply.status.as_u16() {
                200 if reply.json()["state"] == "STABLE" => Ok(reply.json()),
                _ => Err(reply.to_string()),
            }
        },
    )
    .await;
    assert_eq!(group["kind"], "KafkaConsumerGroup");
    assert_eq!(group["consumer_group_id"], "billing");
    assert_eq!(group["is_simple"], false);
    assert_eq!(
        group["metadata"]["resource_name"],
        format!("crn:///kafka={cluster}/consumer-group=billing")
    );
    assert!(group["coordinator"]["related"].is_string(), "{group}");
    let groups = app.get(&v3(&cluster, "/consumer-groups")).await.expect(200);
    let groups = list_data(&groups, "KafkaConsumerGroupList");
    assert!(
        groups.iter().any(|g| g["consumer_group_id"] == "billing"),
        "{groups:?}"
    );

    // One member, with its client id and its partition.
    let consumers = app
        .get(&v3(&cluster, "/consumer-groups/billing/consumers"))
        .await
        .expect(200);
    let consumers = list_data(&consumers, "KafkaConsumerList");
    assert_eq!(consumers.len(), 1, "{consumers:?}");
    let member = &consumers[0];
    let member_id = member["consumer_id"].as_str().unwrap().to_owned();
    // Kafka (and tansu) name a member after its client id.
    assert!(member_id.starts_with("billing-1-"), "{member}");
    // tansu 0.6 leaves the member's client id empty.
    assert!(
        matches!(member["client_id"].as_str(), Some("billing-1" | "")),
        "{member}"
    );
    let one = app
        .get(&v3(
            &cluster,
            &format!("/consumer-groups/billing/consumers/{member_id}"),
        ))
        .await
        .expect(200);
    assert_eq!(&one, member);
    let assignments = app
        .get(&v3(
            &cluster,
            &format!("/consumer-groups/billing/consumers/{member_id}/assignments"),
        ))
        .await
        .expect(200);
    let assignments = list_data(&assignments, "KafkaConsumerAssignmentList");
    // tansu 0.6 answers DescribeGroups without member assignments; a broker
    // that sends them gets them decoded (see the worker's unit tests).
    let assigned = !assignments.is_empty();
    if assigned {
        assert_eq!(assignments.len(), 1, "{assignments:?}");
        assert_eq!(assignments[0]["topic_name"], "payments");
        assert_eq!(assignments[0]["partition_id"], 0);
        assert!(
            assignments[0]["partition"]["related"]
                .as_str()
                .unwrap()
                .ends_with("/topics/payments/partitions/0")
        );
    }

    // Lag: 4 of 10 consumed, 6 behind, on that member.
    let lags = app
        .get(&v3(&cluster, "/consumer-groups/billing/lags"))
        .await
        .expect(200);
    let lags = list_data(&lags, "KafkaConsumerLagList");
    assert_eq!(lags.len(), 1, "{lags:?}");
    let lag = &lags[0];
    assert_eq!(lag["topic_name"], "payments");
    assert_eq!(lag["current_offset"], 4, "{lag}");
    assert_eq!(lag["log_end_offset"], 10, "{lag}");
    assert_eq!(lag["lag"], 6);
    let owner = if assigned { member_id.as_str() } else { "" };
    assert_eq!(lag["consumer_id"], owner, "{lag}");
    let one = app
        .get(&v3(
            &cluster,
            "/consumer-groups/billing/lags/payments/partitions/0",
        ))
        .await
        .expect(200);
    assert_eq!(&one, lag);
    let summary = app
        .get(&v3(&cluster, "/consumer-groups/billing/lag-summary"))
        .await
        .expect(200);
    assert_eq!(summary["kind"], "KafkaConsumerGroupLagSummary");
    assert_eq!(summary["max_lag"], 6);
    assert_eq!(summary["total_lag"], 6);
    assert_eq!(summary["max_lag_topic_name"], "payments");
    assert_eq!(summary["max_lag_partition_id"], 0);
    assert_eq!(summary["max_lag_consumer_id"], owner);

    // Unknown group, consumer and lag partition.
    expect_error(
        &app.get(&v3(&cluster, "/consumer-groups/nobody")).await,
        404,
        40403,
    );
    expect_error(
        &app.get(&v3(&cluster, "/consumer-groups/nobody/lag-summary"))
            .await,
        404,
        40403,
    );
    expect_error(
        &app.get(&v3(&cluster, "/consumer-groups/billing/consumers/ghost"))
            .await,
        404,
        40403,
    );
    expect_error(
        &app.get(&v3(
            &cluster,
            "/consumer-groups/billing/lags/payments/partitions/7",
        ))
        .await,
        404,
        40402,
    );
}
