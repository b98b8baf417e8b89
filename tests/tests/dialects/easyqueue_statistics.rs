//! EasyQueue's statistics, from the samples the workers take every 5 s
//! here: a topic's message count follows what was produced, in the seed's
//! shape, with the window rules checked in the header.

use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use ferry_tests::eventually;
use reqwest::Method;
use serde_json::json;

use crate::helpers::{eq, eq_expect, eq_failure, world_with};

#[tokio::test]
async fn statistics_follow_the_topic_in_the_seeds_shape() {
    let w = world_with(&[("FERRY_STATS__INTERVAL_SECONDS", "5")]).await;
    let app = &w.app;
    let body = json!({ "topic": {
        "topicName": "metered", "partitionCount": 1, "maxRetentionTimeMs": 3600000,
        "maxRetentionBytes": 1073741824_i64, "maxMessageBytes": 1024,
    }});
    eq_expect(
        &eq(
            app,
            Method::POST,
            "/v1.0/appkeys/shop/topics",
            &w.shop.admin,
            Some(&body),
        )
        .await,
        0,
    );
    w.kafka.produce_one_by_one("shop.metered", 0, 4).await;

    let now = Utc::now();
    let window = |start: chrono::DateTime<Utc>, end: chrono::DateTime<Utc>| {
        format!(
            "startDateTime={}&endDateTime={}",
            start
                .to_rfc3339_opts(SecondsFormat::Secs, true)
                .replace('+', "%2B"),
            end.to_rfc3339_opts(SecondsFormat::Secs, true)
                .replace('+', "%2B")
        )
    };
    let path = format!(
        "/v1.0/appkeys/shop/statistics?metricsType=MESSAGE_COUNT&topicName=metered&{}",
        window(
            now - chrono::Duration::minutes(5),
            now + chrono::Duration::minutes(5)
        )
    );
    let answer = eventually(
        "a sampled message count of 4",
        Duration::from_secs(60),
        || async {
            let reply = eq(app, Method::GET, &path, &w.shop.viewer, None).await;
            let body = eq_expect(&reply, 0);
            let last = body["data"][0]["values"]
                .as_array()
                .and_then(|v| v.last())
                .map(|p| p["value"].clone());
            if last == Some(json!(4.0)) {
                Ok(body)
            } else {
                Err(body)
            }
        },
    )
    .await;
    assert_eq!(answer["metricsType"], "MESSAGE_COUNT", "{answer}");
    assert_eq!(answer["step"], 5, "{answer}");
    assert_eq!(answer["data"][0]["labels"]["topic"], "metered", "{answer}");
    assert!(
        answer["data"][0]["values"][0]["timestamp"].is_i64(),
        "{answer}"
    );

    // The seed's window rules, in the header, naming the field.
    let too_short = format!(
        "/v1.0/appkeys/shop/statistics?metricsType=MESSAGE_COUNT&topicName=metered&{}",
        window(now - chrono::Duration::seconds(59), now)
    );
    let reply = eq(app, Method::GET, &too_short, &w.shop.viewer, None).await;
    assert!(eq_failure(&reply, 400).contains("endDateTime"), "{reply}");
    let too_old = format!(
        "/v1.0/appkeys/shop/statistics?metricsType=MESSAGE_COUNT&topicName=metered&{}",
        window(
            now - chrono::Duration::days(91),
            now - chrono::Duration::days(90)
        )
    );
    let reply = eq(app, Method::GET, &too_old, &w.shop.viewer, None).await;
    assert!(eq_failure(&reply, 400).contains("startDateTime"), "{reply}");
    let unknown = path.replace("MESSAGE_COUNT", "TEMPERATURE");
    let reply = eq(app, Method::GET, &unknown, &w.shop.viewer, None).await;
    assert!(eq_failure(&reply, 400).contains("metricsType"), "{reply}");
    // Another project does not see shop's appKey.
    let reply = eq(app, Method::GET, &path, &w.other.admin, None).await;
    eq_failure(&reply, 404);
}
