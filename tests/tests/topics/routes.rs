//! The happy paths: topics are created on the broker, listed, writable.

use ferry_tests::{AppOptions, Backend, TestApp, kafka::TestKafka};
use serde_json::json;

use crate::helpers::*;

async fn creates_topics_that_a_kafka_client_sees(backend: Backend) {
    let kafka = TestKafka::start().await;
    let app = TestApp::spawn(backend).await;
    let cluster = add_cluster(&app, &kafka).await;

    let reply = add_topic_task(
        &app,
        json!(cluster),
        json!([
            { "topicName": "orders" },
            { "topicName": "payments", "partitionCount": 3 },
            { "topicName": "users.compacted", "configs": { "cleanup.policy": "compact" } },
        ]),
    )
    .await;
    assert_eq!(reply["result"], true, "{reply}");
    assert_eq!(reply["errCode"], 0);
    let ids = reply["data"].as_array().expect("data lists task ids");
    assert_eq!(ids.len(), 3);

    let tasks = wait_all_finished(&app, cluster, 3).await;
    for task in &tasks {
        assert_eq!(task["status"], "succeeded", "{task}");
        assert!(
            task["createdBy"].as_str().unwrap().contains("alice"),
            "user recorded: {task}"
        );
    }
    // Seen by a real Kafka client, with the requested partitions; the default
    // is one partition per broker (tansu has one).
    assert_eq!(kafka.partitions_of("orders").await, Some(1));
    assert_eq!(kafka.partitions_of("payments").await, Some(3));
    assert_eq!(kafka.partitions_of("users.compacted").await, Some(1));
    kafka
        .produce("payments", "first")
        .await
        .expect("the new topic takes writes");

    assert_eq!(
        query_can_write(&app, cluster, "payments").await,
        (0, "OK".to_owned())
    );
    assert_eq!(
        query_can_write(&app, cluster, "missing").await,
        (101, "no such topic in master".to_owned())
    );

    let listed = app
        .get(&format!("/v1/cluster?clusterId={cluster}"))
        .await
        .expect(200);
    assert_eq!(listed["result"], true);
    let rows = ferry_tests::reply::tubemq_cluster_rows(&listed);
    let entry = &rows[0];
    assert_eq!(entry["clusterId"], cluster);
    assert_eq!(entry["masterIp"], "127.0.0.1");
    assert_eq!(entry["brokerCount"], 1);
    assert_eq!(entry["topicCount"], 3);
    assert_eq!(entry["partitionCount"], 5);
    assert_eq!(entry["reachable"], true);

    // The audit log keeps the TubeMQ user beside the token's identity.
    let audit = app.get("/api/v1/audit?pageSize=50").await.expect(200);
    let entry = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| {
            e["path"]
                .as_str()
                .unwrap_or_default()
                .contains("addTopicTask")
        })
        .expect("addTopicTask is audited");
    assert_eq!(entry["actor"], "admin");
    assert_eq!(entry["detail"]["user"], "alice");
}

ferry_tests::both_backends!(creates_topics_that_a_kafka_client_sees);

/// errCode 100 needs a topic that exists but that producers cannot write
/// to. On a real cluster that is a partition without a leader (its replicas'
/// brokers down); tansu 0.6.0 always names a leader, but it accepts a topic
/// of zero partitions, which exists and has nothing to write to. Both are the
/// same answer from ferry: the metadata lists the topic, and not every
/// partition of it (there is none) has a leader.
#[tokio::test]
async fn query_can_write_reports_an_existing_topic_that_takes_no_writes() {
    let kafka = TestKafka::start().await;
    let app = TestApp::spawn_with(AppOptions::new(Backend::Sqlite).without_worker()).await;
    let cluster = add_cluster(&app, &kafka).await;
    kafka.create_topic("no-partitions", 0).await;
    kafka.create_topic("one-partition", 1).await;

    assert_eq!(
        query_can_write(&app, cluster, "no-partitions").await,
        (100, "topic no-partitions is not writable".to_owned())
    );
    assert_eq!(
        query_can_write(&app, cluster, "one-partition").await,
        (0, "OK".to_owned())
    );
    assert_eq!(
        query_can_write(&app, cluster, "absent").await,
        (101, "no such topic in master".to_owned())
    );
}

#[tokio::test]
async fn unreachable_cluster_is_listed_with_its_error_quickly() {
    let kafka = TestKafka::start().await;
    let app = TestApp::spawn_with(AppOptions::new(Backend::Sqlite).without_worker()).await;
    add_cluster(&app, &kafka).await;
    app.post(
        "/v1/cluster?method=add",
        &json!({ "clusterName": "nowhere", "masterIp": "127.0.0.1", "masterPort": 1, "user": "ops" }),
    )
    .await
    .expect(200);
    let started = std::time::Instant::now();
    let listed = app.get("/v1/cluster").await.expect(200);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(8),
        "listing took {:?}",
        started.elapsed()
    );
    let rows = ferry_tests::reply::tubemq_cluster_rows(&listed);
    let rows = rows.as_array().expect("data is a list");
    assert_eq!(rows.len(), 2);
    let dead = rows
        .iter()
        .find(|r| r["clusterName"] == "nowhere")
        .expect("dead cluster listed");
    assert_eq!(dead["reachable"], false);
    assert!(
        dead["error"].as_str().unwrap_or_default().len() > 5,
        "{dead}"
    );
    assert!(dead["brokerCount"].is_null());
    let live = rows.iter().find(|r| r["clusterName"] != "nowhere").unwrap();
    assert_eq!(live["brokerCount"], 1);
}

/// A cluster whose brokers are down holds up only the first list of
/// clusters: the lists after it (TubeMQ's and Confluent's) answer at once,
/// with it as unreachable and the other cluster live, where each waited for
/// the inspection timeout (5 s) again; and once it is back, a list shows it
/// live again (a probe asked it in the background).
#[tokio::test]
async fn a_cluster_that_is_down_holds_up_only_the_first_list() {
    use std::time::{Duration, Instant};

    let live = TestKafka::start().await;
    let mut down = TestKafka::start().await;
    let app = TestApp::spawn_with(AppOptions::new(Backend::Sqlite).without_worker()).await;
    let live_id = app
        .post("/api/v1/clusters", &live.registration("live"))
        .await
        .expect(201)["id"]
        .clone();
    let down_id = app
        .post("/api/v1/clusters", &down.registration("down"))
        .await
        .expect(201)["id"]
        .clone();
    down.stop();
    let tubemq_rows = |listed: &serde_json::Value| {
        let rows = ferry_tests::reply::tubemq_cluster_rows(listed);
        let find = |name: &str| {
            rows.as_array()
                .expect("data is a list")
                .iter()
                .find(|r| r["clusterName"] == name)
                .unwrap_or_else(|| panic!("{name} listed: {rows}"))
                .clone()
        };
        (find("live"), find("down"))
    };
    let controller = |listed: &serde_json::Value, id: &serde_json::Value| {
        listed["data"]
            .as_array()
            .expect("data is a list")
            .iter()
            .find(|c| c["cluster_id"] == *id)
            .unwrap_or_else(|| panic!("cluster {id} listed: {listed}"))["controller"]
            .clone()
    };

    let (_, first) = tubemq_rows(&app.get("/v1/cluster").await.expect(200));
    assert_eq!(first["reachable"], false, "{first}");
    for _ in 0..3 {
        let started = Instant::now();
        let (live_row, down_row) = tubemq_rows(&app.get("/v1/cluster").await.expect(200));
        let v3 = app.get("/v3/clusters").await.expect(200);
        let took = started.elapsed();
        assert!(
            took < Duration::from_secs(2),
            "two lists took {took:?} with a cluster known to be down"
        );
        assert_eq!(live_row["reachable"], true, "{live_row}");
        assert_eq!(live_row["brokerCount"], 1, "{live_row}");
        assert_eq!(down_row["reachable"], false, "{down_row}");
        assert!(
            down_row["error"]
                .as_str()
                .unwrap_or_default()
                .contains("cluster unreachable"),
            "{down_row}"
        );
        assert!(!controller(&v3, &live_id).is_null(), "{v3}");
        assert!(controller(&v3, &down_id).is_null(), "{v3}");
    }

    down.restart().await;
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let (_, down_row) = tubemq_rows(&app.get("/v1/cluster").await.expect(200));
        if down_row["reachable"] == true {
            assert_eq!(down_row["brokerCount"], 1, "{down_row}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the cluster is back but still listed as unreachable: {down_row}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test]
async fn cluster_add_modify_delete() {
    let kafka = TestKafka::start().await;
    let app = TestApp::spawn_with(AppOptions::new(Backend::Sqlite).without_worker()).await;
    let cluster = add_cluster(&app, &kafka).await;
    let modified = app
        .post(
            "/v1/cluster?method=modify",
            &json!({ "clusterId": cluster.to_string(), "clusterName": "renamed", "user": "ops" }),
        )
        .await
        .expect(200);
    assert_eq!(modified["result"], true, "{modified}");
    let native = app
        .get(&format!("/api/v1/clusters/{cluster}"))
        .await
        .expect(200);
    assert_eq!(native["name"], "renamed");
    let deleted = app
        .post(
            "/v1/cluster?method=delete",
            &json!({ "clusterId": cluster, "user": "ops" }),
        )
        .await
        .expect(200);
    assert_eq!(deleted["result"], true);
    let again = app
        .post(
            "/v1/cluster?method=delete",
            &json!({ "clusterId": cluster, "user": "ops" }),
        )
        .await
        .expect(200);
    assert_eq!(again["result"], false);
    assert_eq!(again["errMsg"], "no such cluster");
    let listed = app
        .get(&format!("/v1/cluster?clusterId={cluster}"))
        .await
        .expect(200);
    assert_eq!(listed["errMsg"], "no such cluster");
}
