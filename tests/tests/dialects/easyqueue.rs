//! EasyQueue's routes with the seed's examples, as a project's ADMIN sends
//! them, checked against the broker.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{broker_config, eq, eq_expect, eq_failure, world};

#[tokio::test]
async fn a_project_manages_its_topics_as_the_seed_shows() {
    let w = world().await;
    let app = &w.app;
    let admin = &w.shop.admin;

    // Create, with the seed's body.
    let body = json!({ "topic": {
        "topicName": "test-topic",
        "description": "test topic",
        "partitionCount": 3,
        "maxRetentionTimeMs": 604800000_i64,
        "maxRetentionBytes": 1073741824_i64,
        "maxMessageBytes": 1048576 / 8,
    }});
    let created = eq_expect(
        &eq(
            app,
            Method::POST,
            "/v1.0/appkeys/shop/topics",
            admin,
            Some(&body),
        )
        .await,
        0,
    );
    let topic = &created["topic"];
    assert_eq!(topic["topicName"], "shop.test-topic", "{created}");
    assert_eq!(topic["description"], "test topic");
    assert_eq!(topic["partitionCount"], 3);
    assert_eq!(topic["maxRetentionTimeMs"], 604800000_i64);
    assert_eq!(topic["maxRetentionBytes"], 1073741824_i64);
    assert_eq!(topic["maxMessageBytes"], 131072);
    assert_eq!(topic["topicStatus"], "ACTIVE");
    assert_eq!(topic["bootstrapServer"], w.kafka.bootstrap());
    assert!(topic["createdAt"].is_string(), "{created}");
    let topic_id = topic["topicId"].as_str().expect("topicId").to_owned();
    assert_eq!(w.kafka.partitions_of("shop.test-topic").await, Some(3));
    assert_eq!(
        broker_config(&w.kafka, "shop.test-topic", "retention.ms")
            .await
            .as_deref(),
        Some("604800000")
    );

    // The same name again is a conflict; nothing else is created.
    let again = eq(
        app,
        Method::POST,
        "/v1.0/appkeys/shop/topics",
        admin,
        Some(&body),
    )
    .await;
    assert!(
        eq_failure(&again, 409).contains("already exists"),
        "{again}"
    );

    // Live counts: three records on partition 0, two consumed and committed.
    w.kafka.produce_one_by_one("shop.test-topic", 0, 3).await;
    let reader = w
        .kafka
        .consume_and_commit("shop.readers", "eq-reader", "shop.test-topic", 2)
        .await;

    // List, sorted and filtered as the seed describes.
    let listed = eq_expect(
        &eq(
            app,
            Method::GET,
            "/v1.0/appkeys/shop/topics?sortKey=TOPIC_NAME&sortDirection=ASC&page=1&limit=50",
            admin,
            None,
        )
        .await,
        0,
    );
    assert_eq!(listed["totalCount"], 1, "{listed}");
    let entry = &listed["topicList"][0];
    assert_eq!(entry["topicId"], topic_id.as_str());
    assert_eq!(entry["totalMessageCount"], 3, "{listed}");
    assert_eq!(entry["consumerGroupCount"], 1, "{listed}");
    let by_id = eq_expect(
        &eq(
            app,
            Method::GET,
            &format!("/v1.0/appkeys/shop/topics?topicIdList={topic_id}"),
            admin,
            None,
        )
        .await,
        0,
    );
    assert_eq!(by_id["totalCount"], 1, "{by_id}");
    let none = eq_expect(
        &eq(
            app,
            Method::GET,
            "/v1.0/appkeys/shop/topics?searchTopicName=zzz",
            admin,
            None,
        )
        .await,
        0,
    );
    assert_eq!(none["totalCount"], 0, "{none}");
    assert_eq!(none["topicList"], json!([]));

    // Get, by the short name and by the broker's name; `Authorization`
    // works as well as EasyQueue's header.
    for name in ["test-topic", "shop.test-topic"] {
        let got = eq_expect(
            &app.send(
                Method::GET,
                &format!("/v1.0/appkeys/shop/topics/{name}"),
                Some(&w.shop.viewer),
                None,
            )
            .await,
            0,
        );
        assert_eq!(got["topic"]["topicId"], topic_id.as_str());
    }

    // Partitions and consumer groups.
    let partitions = eq_expect(
        &eq(
            app,
            Method::GET,
            "/v1.0/appkeys/shop/topics/test-topic/partitions",
            admin,
            None,
        )
        .await,
        0,
    );
    let list = partitions["partitionList"]
        .as_array()
        .expect("partitionList");
    assert_eq!(list.len(), 3, "{partitions}");
    assert_eq!(list[0]["partition"], 0);
    assert_eq!(list[0]["startOffset"], 0);
    assert_eq!(list[0]["endOffset"], 3, "{partitions}");
    assert_eq!(list[0]["messageCount"], 3);
    let groups = eq_expect(
        &eq(
            app,
            Method::GET,
            "/v1.0/appkeys/shop/topics/test-topic/consumer-groups",
            admin,
            None,
        )
        .await,
        0,
    );
    let group = &groups["consumerGroupList"][0];
    assert_eq!(group["groupId"], "shop.readers", "{groups}");
    assert_eq!(group["totalLag"], 1, "{groups}");
    assert!(group["groupState"].is_string());

    // Edit: description and a retention change reach the broker.
    let edit = json!({ "topic": {
        "description": "updated test topic",
        "partitionCount": 3,
        "maxRetentionTimeMs": 1209600000_i64,
        "maxRetentionBytes": 2147483648_i64,
        "maxMessageBytes": 262144,
    }});
    let edited = eq_expect(
        &eq(
            app,
            Method::PUT,
            "/v1.0/appkeys/shop/topics/test-topic",
            admin,
            Some(&edit),
        )
        .await,
        0,
    );
    assert_eq!(
        edited["topic"]["description"], "updated test topic",
        "{edited}"
    );
    assert_eq!(edited["topic"]["maxRetentionTimeMs"], 1209600000_i64);
    assert_eq!(
        broker_config(&w.kafka, "shop.test-topic", "retention.bytes")
            .await
            .as_deref(),
        Some("2147483648")
    );

    // Fewer partitions is refused before any task; more partitions reaches
    // the broker, whose refusal (tansu has no CreatePartitions) reaches the
    // caller in the header.
    let mut fewer = edit.clone();
    fewer["topic"]["partitionCount"] = json!(2);
    let refused = eq(
        app,
        Method::PUT,
        "/v1.0/appkeys/shop/topics/test-topic",
        admin,
        Some(&fewer),
    )
    .await;
    assert!(
        eq_failure(&refused, 400).contains("only be increased"),
        "{refused}"
    );
    let mut more = edit.clone();
    more["topic"]["partitionCount"] = json!(5);
    let raised = eq(
        app,
        Method::PUT,
        "/v1.0/appkeys/shop/topics/test-topic",
        admin,
        Some(&more),
    )
    .await;
    let body = raised.json();
    if body["header"]["isSuccessful"] == true {
        assert_eq!(w.kafka.partitions_of("shop.test-topic").await, Some(5));
    } else {
        let message = eq_failure(&raised, 400);
        assert!(message.contains("task"), "{raised}");
        let tasks = app
            .get(&format!(
                "/api/v1/tasks?kind=topic.partitions&clusterId={}",
                w.cluster
            ))
            .await
            .expect(200);
        assert_eq!(tasks["data"][0]["status"], "failed", "{tasks}");
    }

    // Delete. The reader leaves first: librdkafka 2.x crashes in its
    // metadata cache when tansu answers for a subscribed topic that is gone.
    drop(reader);
    let deleted = eq_expect(
        &eq(
            app,
            Method::DELETE,
            "/v1.0/appkeys/shop/topics/test-topic",
            admin,
            None,
        )
        .await,
        0,
    );
    assert!(deleted.get("taskId").is_none(), "{deleted}");
    assert_eq!(w.kafka.partitions_of("shop.test-topic").await, None);
    let gone = eq(
        app,
        Method::GET,
        "/v1.0/appkeys/shop/topics/test-topic",
        admin,
        None,
    )
    .await;
    assert!(eq_failure(&gone, 404).contains("not found"), "{gone}");
}

#[tokio::test]
async fn roles_and_projects_are_enforced_in_the_header() {
    let w = world().await;
    let app = &w.app;
    let body = json!({ "topic": {
        "topicName": "t1", "partitionCount": 1, "maxRetentionTimeMs": 3600000,
        "maxRetentionBytes": 1073741824_i64, "maxMessageBytes": 1024,
    }});
    // CLIENT and VIEWER may read but not create (EasyQueue's roles).
    for token in [&w.shop.client, &w.shop.viewer] {
        let refused = eq(
            app,
            Method::POST,
            "/v1.0/appkeys/shop/topics",
            token,
            Some(&body),
        )
        .await;
        eq_failure(&refused, 403);
        eq_expect(
            &eq(app, Method::GET, "/v1.0/appkeys/shop/topics", token, None).await,
            0,
        );
    }
    // Another project's ADMIN does not see this appKey at all.
    let foreign = eq(
        app,
        Method::POST,
        "/v1.0/appkeys/shop/topics",
        &w.other.admin,
        Some(&body),
    )
    .await;
    assert!(
        eq_failure(&foreign, 404).contains("appKey shop"),
        "{foreign}"
    );
    let foreign = eq(
        app,
        Method::GET,
        "/v1.0/appkeys/shop/topics",
        &w.other.viewer,
        None,
    )
    .await;
    eq_failure(&foreign, 404);
    // No token, or a wrong one: 401 in the header, HTTP 200.
    let anonymous = app
        .send_headers(Method::GET, "/v1.0/appkeys/shop/topics", &[], None)
        .await;
    eq_failure(&anonymous, 401);
    let wrong = eq(
        app,
        Method::GET,
        "/v1.0/appkeys/shop/topics",
        "not-a-token",
        None,
    )
    .await;
    eq_failure(&wrong, 401);
    // An unknown appKey.
    let unknown = eq(
        app,
        Method::GET,
        "/v1.0/appkeys/nope/topics",
        &w.shop.admin,
        None,
    )
    .await;
    eq_failure(&unknown, 404);
    // Nothing was created by any refusal.
    let topics: Vec<String> = w.kafka.topics().await.into_iter().map(|(n, _)| n).collect();
    assert!(!topics.iter().any(|t| t.ends_with("t1")), "{topics:?}");
    // A global admin reaches the appKey too.
    eq_expect(
        &eq(
            app,
            Method::POST,
            "/v1.0/appkeys/shop/topics",
            &app.admin_token,
            Some(&body),
        )
        .await,
        0,
    );
    assert_eq!(w.kafka.partitions_of("shop.t1").await, Some(1));
    // The other project's listing does not show shop's topic.
    let theirs = eq_expect(
        &eq(
            app,
            Method::GET,
            "/v1.0/appkeys/other/topics",
            &w.other.viewer,
            None,
        )
        .await,
        0,
    );
    assert_eq!(theirs["totalCount"], 0, "{theirs}");
}
