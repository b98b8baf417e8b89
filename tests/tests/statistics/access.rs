//! Who may read statistics, and windows out of range.

use ferry_tests::{Backend, TestApp};
use reqwest::Method;
use serde_json::json;

use crate::helpers::{at, start, statistics};

async fn project_token(app: &TestApp, cluster: &str) -> String {
    app.post(
        "/api/v1/projects",
        &json!({ "id": "team", "name": "Team", "description": "statistics" }),
    )
    .await
    .expect(201);
    app.put(
        &format!("/api/v1/projects/team/grants/{cluster}"),
        &json!({ "topicPrefix": "team." }),
    )
    .await
    .expect(200);
    let minted = app
        .post(
            "/api/v1/projects/team/tokens",
            &json!({ "name": "team-viewer", "role": "VIEWER" }),
        )
        .await
        .expect(201);
    minted["token"].as_str().expect("token").to_owned()
}

#[tokio::test]
async fn a_project_sees_only_its_cluster_and_prefix() {
    let (kafka, app, cluster) = start(Backend::Sqlite).await;
    let other = app
        .post("/api/v1/clusters", &kafka.registration("not-granted"))
        .await
        .expect(201)["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let token = project_token(&app, &cluster).await;
    let window = (-600, 0);
    let own = statistics(
        &app,
        &token,
        &cluster,
        "MESSAGE_COUNT",
        "team.orders",
        window,
    )
    .await
    .expect(200);
    assert_eq!(own["metricsType"], "MESSAGE_COUNT");
    assert!(own["step"].as_i64().is_some_and(|s| s > 0), "{own}");
    let outside = statistics(&app, &token, &cluster, "MESSAGE_COUNT", "orders", window).await;
    outside.expect_problem(404);
    let elsewhere = statistics(&app, &token, &other, "MESSAGE_COUNT", "team.orders", window).await;
    elsewhere.expect_problem(404);
    // The global admin sees both.
    statistics(
        &app,
        &app.admin_token,
        &other,
        "MESSAGE_COUNT",
        "orders",
        window,
    )
    .await
    .expect(200);
    // No token: 401.
    let path = format!(
        "/api/v1/clusters/{cluster}/statistics?metricsType=MESSAGE_COUNT&topicName=x&startDateTime={}&endDateTime={}",
        at(-600),
        at(0)
    );
    app.send(Method::GET, &path, None, None)
        .await
        .expect_problem(401);
}

#[tokio::test]
async fn bad_windows_and_metrics_name_the_field() {
    let (_kafka, app, cluster) = start(Backend::Sqlite).await;
    let token = app.admin_token.clone();
    let cases = [
        (
            "MESSAGE_COUNT",
            (-91 * 86_400, -91 * 86_400 + 3600),
            "startDateTime",
        ),
        ("MESSAGE_COUNT", (-600, -570), "endDateTime"),
        ("MESSAGE_COUNT", (-600, -700), "endDateTime"),
        (
            "MESSAGE_COUNT",
            (-40 * 86_400, -9 * 86_400 + 1),
            "endDateTime",
        ),
        ("BYTES", (-600, 0), "metricsType"),
    ];
    for (metric, window, field) in cases {
        let detail = statistics(&app, &token, &cluster, metric, "orders", window)
            .await
            .expect_problem(400);
        assert!(detail.contains(field), "{metric} {window:?}: {detail}");
    }
    // Edges that are allowed: exactly 60 s, and 30 days ending now.
    for window in [(-600, -540), (-30 * 86_400, 0)] {
        statistics(&app, &token, &cluster, "MESSAGE_COUNT", "orders", window)
            .await
            .expect(200);
    }
    let unparsable = format!(
        "/api/v1/clusters/{cluster}/statistics?metricsType=MESSAGE_COUNT&topicName=orders&startDateTime=yesterday&endDateTime={}",
        at(0)
    );
    let detail = app
        .send(Method::GET, &unparsable, Some(&token), None)
        .await
        .expect_problem(400);
    assert!(detail.contains("startDateTime"), "{detail}");
    let missing = format!("/api/v1/clusters/{cluster}/statistics?metricsType=MESSAGE_COUNT");
    let detail = app
        .send(Method::GET, &missing, Some(&token), None)
        .await
        .expect_problem(400);
    assert!(detail.contains("topicName"), "{detail}");
}
