//! A project on a shared cluster creates topics under its prefix, is
//! refused outside it, and its listings show only its own topics.

use ferry_tests::{Backend, both_backends};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{broker_topics, call, world};

async fn prefix_scopes_topics(backend: Backend) {
    let w = world(backend, &[]).await;
    let (app, shared) = (&w.app, w.shared.as_str());

    // TubeMQ: a batch with one name outside the prefix is refused whole.
    let tube =
        |topics: Value| json!({ "clusterId": shared, "user": "alice", "addTopicTasks": topics });
    let refused = call(
        app,
        Method::POST,
        "/v1/task?method=addTopicTask",
        &w.a.client,
        Some(&tube(
            json!([{ "topicName": "teama.ok" }, { "topicName": "teamb.stolen" }]),
        )),
    )
    .await;
    assert_eq!(refused.status.as_u16(), 403, "{refused}");
    assert_eq!(refused.json()["errCode"], 403, "{refused}");
    assert!(
        refused.json()["errMsg"]
            .as_str()
            .unwrap()
            .contains("teama."),
        "the refusal names the prefix: {refused}"
    );
    let accepted = call(
        app,
        Method::POST,
        "/v1/task?method=addTopicTask",
        &w.a.client,
        Some(&tube(
            json!([{ "topicName": "teama.orders", "partitionCount": 1, "replicationFactor": 1 }]),
        )),
    )
    .await
    .expect(200);
    assert_eq!(accepted["result"], true, "{accepted}");
    for id in accepted["data"].as_array().expect("task ids") {
        let task = app.wait_finished(id.as_str().unwrap()).await;
        assert_eq!(task["status"], "succeeded", "{task}");
        assert_eq!(task["projectId"], "proja", "{task}");
    }

    // Confluent: inside the prefix 201, outside 403 with nothing created.
    let v3 = format!("/v3/clusters/{shared}/topics");
    let made = call(
        app,
        Method::POST,
        &v3,
        &w.a.client,
        Some(&json!({ "topic_name": "teama.payments", "partitions_count": 1, "replication_factor": 1 })),
    )
    .await;
    assert_eq!(made.status.as_u16(), 201, "{made}");
    let outside = call(
        app,
        Method::POST,
        &v3,
        &w.a.client,
        Some(&json!({ "topic_name": "payments", "partitions_count": 1, "replication_factor": 1 })),
    )
    .await;
    assert_eq!(outside.status.as_u16(), 403, "{outside}");
    assert_eq!(outside.json()["error_code"], 403, "{outside}");
    let made_b = call(
        app,
        Method::POST,
        &v3,
        &w.b.client,
        Some(&json!({ "topic_name": "teamb.orders", "partitions_count": 1, "replication_factor": 1 })),
    )
    .await;
    assert_eq!(made_b.status.as_u16(), 201, "{made_b}");
    let on_broker = broker_topics(&w.kafka).await;
    assert!(
        on_broker.contains(&"teama.orders".to_owned())
            && on_broker.contains(&"teama.payments".to_owned())
            && on_broker.contains(&"teamb.orders".to_owned()),
        "{on_broker:?}"
    );
    assert!(
        !on_broker
            .iter()
            .any(|t| t == "payments" || t == "teamb.stolen" || t == "teama.ok"),
        "a refused request created a topic: {on_broker:?}"
    );

    // Listings: A sees its topics only, in every dialect.
    let listed = call(app, Method::GET, &v3, &w.a.viewer, None)
        .await
        .expect(200);
    let names: Vec<&str> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["topic_name"].as_str().unwrap())
        .collect();
    assert!(
        !names.is_empty() && names.iter().all(|n| n.starts_with("teama.")),
        "{names:?}"
    );
    let b_topic = call(
        app,
        Method::GET,
        &format!("{v3}/teamb.orders"),
        &w.a.viewer,
        None,
    )
    .await;
    assert_eq!(b_topic.status.as_u16(), 404, "{b_topic}");
    assert_eq!(b_topic.json()["error_code"], 40401, "{b_topic}");
    let can_write = call(
        app,
        Method::POST,
        "/v1/topic?method=queryCanWrite",
        &w.a.viewer,
        Some(&json!({ "clusterId": shared, "topicName": "teamb.orders", "user": "alice" })),
    )
    .await
    .expect(200);
    assert_eq!(
        can_write["errCode"], 101,
        "B's topic does not exist for A: {can_write}"
    );

    // Clusters: A sees the shared cluster only; B also its own.
    let clusters = call(app, Method::GET, "/api/v1/clusters", &w.a.viewer, None)
        .await
        .expect(200);
    let ids: Vec<String> = clusters["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, vec![w.shared.clone()], "{clusters}");
    let tube_clusters = call(app, Method::GET, "/v1/cluster", &w.a.viewer, None)
        .await
        .expect(200);
    assert_eq!(
        ferry_tests::reply::tubemq_cluster_rows(&tube_clusters)
            .as_array()
            .unwrap()
            .len(),
        1,
        "{tube_clusters}"
    );
    let v3_clusters = call(app, Method::GET, "/v3/clusters", &w.b.viewer, None)
        .await
        .expect(200);
    assert_eq!(
        v3_clusters["data"].as_array().unwrap().len(),
        2,
        "{v3_clusters}"
    );

    // Tasks: each project sees its own, a global admin all of them.
    let a_tasks = call(
        app,
        Method::GET,
        "/api/v1/tasks?pageSize=100",
        &w.a.viewer,
        None,
    )
    .await
    .expect(200);
    let subjects: Vec<&str> = a_tasks["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["subject"].as_str().unwrap_or_default())
        .collect();
    assert!(
        !subjects.is_empty() && subjects.iter().all(|s| s.starts_with("teama.")),
        "{subjects:?}"
    );
    let all = app.get("/api/v1/tasks?pageSize=100").await.expect(200);
    assert!(all["total"].as_u64().unwrap() > a_tasks["total"].as_u64().unwrap());
}

both_backends!(prefix_scopes_topics);
