//! Shared steps of the statistics tests.

use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use ferry_tests::{AppOptions, Backend, Reply, TestApp, kafka::TestKafka};
use reqwest::Method;
use serde_json::Value;

/// The sampling interval the tests run ferry with.
pub const INTERVAL_SECONDS: i64 = 5;

/// Ferry with a worker sampling every [`INTERVAL_SECONDS`], a broker, and
/// the broker registered; returns the cluster id too.
pub async fn start(backend: Backend) -> (TestKafka, TestApp, String) {
    let kafka = TestKafka::start().await;
    let app = TestApp::spawn_with(
        AppOptions::new(backend)
            .env(
                "FERRY_STATS__INTERVAL_SECONDS",
                &INTERVAL_SECONDS.to_string(),
            )
            .env("FERRY_RATE_LIMIT__PER_SECOND", "0"),
    )
    .await;
    let cluster = app
        .post("/api/v1/clusters", &kafka.registration("stats"))
        .await
        .expect(201)["id"]
        .as_str()
        .expect("cluster id")
        .to_owned();
    (kafka, app, cluster)
}

/// An instant as the route takes it: RFC 3339 in UTC.
pub fn at(seconds_from_now: i64) -> String {
    (Utc::now() + chrono::Duration::seconds(seconds_from_now))
        .to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// `GET .../statistics` for a window given in seconds from now.
pub async fn statistics(
    app: &TestApp,
    token: &str,
    cluster: &str,
    metric: &str,
    topic: &str,
    window: (i64, i64),
) -> Reply {
    let path = format!(
        "/api/v1/clusters/{cluster}/statistics?metricsType={metric}&topicName={topic}&startDateTime={}&endDateTime={}",
        at(window.0),
        at(window.1)
    );
    app.send(Method::GET, &path, Some(token), None).await
}

/// The one series of a topic-labelled metric: its values as (timestamp,
/// value) pairs.
pub fn points(series: &Value) -> Vec<(i64, f64)> {
    series["values"]
        .as_array()
        .expect("values")
        .iter()
        .map(|p| {
            (
                p["timestamp"].as_i64().expect("timestamp"),
                p["value"].as_f64().expect("value"),
            )
        })
        .collect()
}

pub const WAIT: Duration = Duration::from_secs(60);
