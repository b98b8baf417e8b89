//! Per-token rate limits: past the burst a token gets 429 with
//! `Retry-After` in the envelope of the dialect it called; global admins are
//! not limited by default; a token's own limit wins; invalid tokens are
//! refused before the limiter, which keeps no state for them.

use ferry_tests::{AppOptions, Backend, Reply, TestApp};
use reqwest::Method;
use serde_json::json;

/// Sends `GET path` as `token` until the limit answers; returns how many
/// were let through and the refusal.
async fn exhaust(app: &TestApp, path: &str, token: &str) -> (usize, Reply) {
    for passed in 0..50 {
        let reply = app.send(Method::GET, path, Some(token), None).await;
        // EasyQueue answers every call with 200 and its code in the header.
        let limited = reply.status.as_u16() == 429
            || serde_json::from_str::<serde_json::Value>(&reply.text)
                .is_ok_and(|b| b["header"]["resultCode"] == 429);
        if limited {
            return (passed, reply);
        }
        // A call let through may still be refused for what it asks (an
        // unknown appKey or database): it was not limited.
        assert!(!reply.status.is_server_error(), "{reply}");
    }
    panic!("{path}: 50 requests in a row were let through");
}

/// Whether a body is the dialect's rate-limit envelope.
type Envelope = fn(&serde_json::Value) -> bool;

fn retry_after(reply: &Reply) -> u64 {
    reply
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("429 without a Retry-After in seconds: {reply}"))
}

#[tokio::test]
async fn each_dialect_answers_429_in_its_envelope() {
    let app = TestApp::spawn_with(
        AppOptions::new(Backend::Sqlite)
            .env("FERRY_RATE_LIMIT__PER_SECOND", "1")
            .env("FERRY_RATE_LIMIT__BURST", "3"),
    )
    .await;
    let cases: [(&str, Envelope); 6] = [
        ("/api/v1/tasks", |b| {
            b["status"] == 429 && b["detail"].is_string()
        }),
        ("/v1/cluster", |b| {
            b["errCode"] == 429 && b["result"] == false
        }),
        ("/api/v1/changefeeds/", |b| {
            b["code"] == 429 && b["message"].is_string()
        }),
        ("/v3/clusters", |b| {
            b["error_code"] == 42901 && b["message"].is_string()
        }),
        ("/v1.0/appkeys/nobody/topics", |b| {
            b["header"]["isSuccessful"] == false
                && b["header"]["resultCode"] == 429
                && b["header"]["resultMessage"].is_string()
        }),
        (
            "/v2/databases/8d5ad2a4-5b7c-4c3c-9a4e-0c1d2e3f4a5b/topics",
            |b| b["id"] == "too_many_requests" && b["message"] == "API Rate limit exceeded.",
        ),
    ];
    let limited_tokens = cases.len() as f64;
    for (path, envelope) in cases {
        // A token per dialect: each has a bucket of its own.
        let (_, token) = app.mint_token(&format!("c{}", path.len()), "client").await;
        let (passed, refused) = exhaust(&app, path, &token).await;
        assert!(
            (3..=4).contains(&passed),
            "{path}: {passed} passed before the limit"
        );
        assert!(envelope(&refused.json()), "{path}: {refused}");
        assert!((1..=2).contains(&retry_after(&refused)), "{refused}");
    }

    // The global admin is not limited by default.
    for _ in 0..20 {
        app.get("/api/v1/tasks").await.expect(200);
    }

    // Invalid tokens are refused before the limiter and leave no bucket.
    let buckets = || async {
        let text = app.get("/metrics").await.text;
        text.lines()
            .find_map(|l| l.strip_prefix("ferry_rate_limit_buckets "))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .expect("ferry_rate_limit_buckets in /metrics")
    };
    let before = buckets().await;
    for i in 0..200 {
        let reply = app
            .send(
                Method::GET,
                "/api/v1/tasks",
                Some(&format!("fy_invalid{i}")),
                None,
            )
            .await;
        assert_eq!(reply.status.as_u16(), 401, "{reply}");
    }
    assert_eq!(buckets().await, before, "invalid tokens grew the limiter");
    assert_eq!(before, limited_tokens, "one bucket per valid limited token");
}

#[tokio::test]
async fn a_token_limit_of_its_own_wins() {
    let app = TestApp::spawn_with(
        AppOptions::new(Backend::Sqlite)
            .env("FERRY_RATE_LIMIT__PER_SECOND", "1000")
            .env("FERRY_RATE_LIMIT__BURST", "1000"),
    )
    .await;
    app.post("/api/v1/projects", &json!({ "id": "slow", "name": "Slow" }))
        .await
        .expect(201);
    let minted = app
        .post(
            "/api/v1/projects/slow/tokens",
            &json!({ "name": "bot", "role": "VIEWER", "rateLimit": { "perSecond": 1, "burst": 2 } }),
        )
        .await
        .expect(201);
    let token = minted["token"].as_str().unwrap();
    let (passed, refused) = exhaust(&app, "/api/v1/clusters", token).await;
    assert!(
        (2..=3).contains(&passed),
        "{passed} passed before the token's limit"
    );
    assert_eq!(refused.json()["status"], 429, "{refused}");

    // A project's ADMIN cannot lift its own project's limit.
    let admin = app
        .post(
            "/api/v1/projects/slow/tokens",
            &json!({ "name": "lead", "role": "ADMIN" }),
        )
        .await
        .expect(201);
    let reply = app
        .send(
            Method::POST,
            "/api/v1/projects/slow/tokens",
            Some(admin["token"].as_str().unwrap()),
            Some(&json!({ "name": "fast", "role": "CLIENT", "rateLimit": { "perSecond": 100000, "burst": 100000 } })),
        )
        .await;
    assert_eq!(reply.status.as_u16(), 403, "{reply}");
}
