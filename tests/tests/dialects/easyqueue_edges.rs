//! EasyQueue's ranges, each on both sides of both edges: the valid edges
//! create topics, the invalid ones are refused in the header naming the
//! field, and nothing reaches the broker.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{eq, eq_expect, eq_failure, world};

fn topic(
    name: &str,
    partitions: i64,
    retention_ms: i64,
    retention_bytes: i64,
    message: i64,
) -> Value {
    json!({ "topic": {
        "topicName": name,
        "partitionCount": partitions,
        "maxRetentionTimeMs": retention_ms,
        "maxRetentionBytes": retention_bytes,
        "maxMessageBytes": message,
    }})
}

#[tokio::test]
async fn every_range_is_checked_on_both_sides() {
    let w = world().await;
    let app = &w.app;
    let admin = &w.shop.admin;
    let create = |body: Value| async move {
        eq(
            app,
            Method::POST,
            "/v1.0/appkeys/shop/topics",
            admin,
            Some(&body),
        )
        .await
    };

    // The lowest and the highest valid values.
    let low = create(topic("a", 1, 3_600_000, 1_073_741_824, 1_024)).await;
    eq_expect(&low, 0);
    let long_name = "b".repeat(50);
    let mut high = topic(&long_name, 16, 1_209_600_000, 26_843_545_600, 262_144);
    high["topic"]["description"] = json!("d".repeat(255));
    eq_expect(&create(high).await, 0);
    assert_eq!(w.kafka.partitions_of("shop.a").await, Some(1));
    assert_eq!(
        w.kafka.partitions_of(&format!("shop.{long_name}")).await,
        Some(16)
    );

    // One step past each edge, each naming its field.
    let long = "c".repeat(51);
    let cases: Vec<(Value, &str)> = vec![
        (topic("", 1, 3_600_000, 1_073_741_824, 1_024), "topicName"),
        (
            topic(&long, 1, 3_600_000, 1_073_741_824, 1_024),
            "topicName",
        ),
        (
            topic("dot.ted", 1, 3_600_000, 1_073_741_824, 1_024),
            "topicName",
        ),
        (
            topic("under_score", 1, 3_600_000, 1_073_741_824, 1_024),
            "topicName",
        ),
        (
            topic("p0", 0, 3_600_000, 1_073_741_824, 1_024),
            "partitionCount",
        ),
        (
            topic("p17", 17, 3_600_000, 1_073_741_824, 1_024),
            "partitionCount",
        ),
        (
            topic("r-low", 1, 3_599_999, 1_073_741_824, 1_024),
            "maxRetentionTimeMs",
        ),
        (
            topic("r-high", 1, 1_209_600_001, 1_073_741_824, 1_024),
            "maxRetentionTimeMs",
        ),
        (
            topic("b-low", 1, 3_600_000, 1_073_741_823, 1_024),
            "maxRetentionBytes",
        ),
        (
            topic("b-high", 1, 3_600_000, 26_843_545_601, 1_024),
            "maxRetentionBytes",
        ),
        (
            topic("m-low", 1, 3_600_000, 1_073_741_824, 1_023),
            "maxMessageBytes",
        ),
        (
            topic("m-high", 1, 3_600_000, 1_073_741_824, 262_145),
            "maxMessageBytes",
        ),
        (
            json!({ "topic": { "topicName": "missing" } }),
            "partitionCount",
        ),
        (json!({}), "topic"),
    ];
    for (body, field) in cases {
        let reply = create(body.clone()).await;
        let message = eq_failure(&reply, 400);
        assert!(message.contains(field), "{field}: {reply}");
    }
    let mut wordy = topic("wordy", 1, 3_600_000, 1_073_741_824, 1_024);
    wordy["topic"]["description"] = json!("d".repeat(256));
    assert!(eq_failure(&create(wordy).await, 400).contains("description"));
    // Wrong JSON types are refused in the header too.
    let typed = create(json!({ "topic": { "topicName": "x", "partitionCount": "many" } })).await;
    eq_failure(&typed, 400);

    // List parameters.
    for (query, ok) in [
        ("limit=1", true),
        ("limit=3000", true),
        ("limit=0", false),
        ("limit=3001", false),
        ("page=1", true),
        ("page=0", false),
        ("sortKey=UPDATED_AT&sortDirection=ASC", true),
        ("sortKey=SIZE", false),
        ("sortDirection=UP", false),
    ] {
        let reply = eq(
            app,
            Method::GET,
            &format!("/v1.0/appkeys/shop/topics?{query}"),
            admin,
            None,
        )
        .await;
        if ok {
            eq_expect(&reply, 0);
        } else {
            let message = eq_failure(&reply, 400);
            let field = query.split('=').next().unwrap_or_default();
            assert!(message.contains(field), "{query}: {reply}");
        }
    }
    let ids = |n: usize| {
        (0..n)
            .map(|i| format!("topicIdList=id-{i}"))
            .collect::<Vec<_>>()
            .join("&")
    };
    eq_expect(
        &eq(
            app,
            Method::GET,
            &format!("/v1.0/appkeys/shop/topics?{}", ids(100)),
            admin,
            None,
        )
        .await,
        0,
    );
    let too_many = eq(
        app,
        Method::GET,
        &format!("/v1.0/appkeys/shop/topics?{}", ids(101)),
        admin,
        None,
    )
    .await;
    assert!(
        eq_failure(&too_many, 400).contains("topicIdList"),
        "{too_many}"
    );
    // Paging: two topics, one per page.
    let first = eq_expect(
        &eq(
            app,
            Method::GET,
            "/v1.0/appkeys/shop/topics?sortKey=TOPIC_NAME&sortDirection=ASC&limit=1&page=1",
            admin,
            None,
        )
        .await,
        0,
    );
    let second = eq_expect(
        &eq(
            app,
            Method::GET,
            "/v1.0/appkeys/shop/topics?sortKey=TOPIC_NAME&sortDirection=ASC&limit=1&page=2",
            admin,
            None,
        )
        .await,
        0,
    );
    assert_eq!(first["totalCount"], 2);
    assert_eq!(first["topicList"][0]["topicName"], "shop.a");
    assert_eq!(
        second["topicList"][0]["topicName"],
        format!("shop.{long_name}")
    );

    // Only the two valid topics exist on the broker.
    let mut mine: Vec<String> = w
        .kafka
        .topics()
        .await
        .into_iter()
        .map(|(n, _)| n)
        .filter(|n| n.starts_with("shop."))
        .collect();
    mine.sort();
    assert_eq!(mine, vec!["shop.a".to_owned(), format!("shop.{long_name}")]);
}
