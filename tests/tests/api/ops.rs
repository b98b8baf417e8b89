//! Operational endpoints (health, readiness, docs, metrics) and the audit log.

use ferry_tests::Reply;

use crate::helpers::*;

both_backends!(
    health_readiness_and_docs_need_no_token,
    metrics_need_a_token_and_count_requests_and_tasks,
    the_audit_log_records_every_mutating_call,
);

async fn health_readiness_and_docs_need_no_token(backend: Backend) {
    let app = spawn_api_only(backend).await;

    let health = app.send(Method::GET, "/healthz", None, None).await;
    health.expect(200);
    let ready = app.send(Method::GET, "/readyz", None, None).await;
    assert_eq!(ready.status, 200, "{ready}");

    let spec = app.send(Method::GET, "/openapi.json", None, None).await;
    let spec = spec.expect(200);
    let paths = spec["paths"]
        .as_object()
        .unwrap_or_else(|| panic!("the OpenAPI document has no `paths`: {spec}"));
    for path in [
        "/api/v1/tasks",
        "/api/v1/clusters",
        "/api/v1/tokens",
        "/api/v1/audit",
    ] {
        assert!(
            paths.contains_key(path),
            "the OpenAPI document lacks {path}; it has {:?}",
            paths.keys().collect::<Vec<_>>()
        );
    }

    let docs = app.send(Method::GET, "/docs", None, None).await;
    assert_eq!(docs.status, 200, "{docs}");
    assert!(
        docs.text.to_lowercase().contains("swagger"),
        "/docs is not Swagger UI: {}",
        &docs.text[..docs.text.len().min(500)]
    );
}

/// The value of the first sample of `metric` whose labels include all of
/// `labels` (each written `name="value"`).
fn sample(metrics: &str, metric: &str, labels: &[&str]) -> Option<f64> {
    metrics
        .lines()
        .filter(|line| line.starts_with(&format!("{metric}{{")))
        .find(|line| labels.iter().all(|label| line.contains(label)))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}

async fn metrics_need_a_token_and_count_requests_and_tasks(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = app.ping(json!({})).await;
    assert_eq!(app.wait_finished(&id).await["status"], "succeeded");

    app.send(Method::GET, "/metrics", None, None)
        .await
        .expect_problem(401);
    app.send(Method::GET, "/metrics", Some("nope"), None)
        .await
        .expect_problem(401);

    // Paths no route serves share one label: random paths cannot grow the
    // label set.
    for i in 0..50 {
        let path = format!("/no-such-route-{i}/x{i}");
        app.send(Method::GET, &path, None, None).await;
    }

    let metrics = app.get("/metrics").await;
    assert_eq!(metrics.status, 200, "{metrics}");
    let text = &metrics.text;
    assert!(
        !text.contains("no-such-route"),
        "a random path became a label:\n{text}"
    );
    assert!(
        sample(text, "ferry_http_requests_total", &["route=\"unmatched\""]).is_some(),
        "unmatched paths are not counted under one label:\n{text}"
    );
    let submitted = sample(
        text,
        "ferry_http_requests_total",
        &[
            "method=\"POST\"",
            "route=\"/api/v1/tasks\"",
            "status=\"202\"",
        ],
    );
    assert_eq!(
        submitted,
        Some(1.0),
        "the submission is not counted:\n{text}"
    );
    let succeeded = sample(
        text,
        "ferry_tasks",
        &["kind=\"ping\"", "status=\"succeeded\""],
    );
    assert_eq!(
        succeeded,
        Some(1.0),
        "the succeeded task is not counted:\n{text}"
    );
    let pending = sample(
        text,
        "ferry_tasks",
        &["kind=\"ping\"", "status=\"pending\""],
    );
    assert_eq!(pending, Some(0.0), "no task is pending:\n{text}");
}

async fn the_audit_log_records_every_mutating_call(backend: Backend) {
    let app = spawn_api_only(backend).await;
    // (reply, actor) of every mutating call, oldest first.
    let mut calls: Vec<(Reply, &str)> = Vec::new();

    let minted = app
        .post(
            "/api/v1/tokens",
            &json!({ "name": "ci-bot", "role": "client" }),
        )
        .await;
    let client = minted.expect(201)["token"]
        .as_str()
        .expect("token")
        .to_owned();
    calls.push((minted, "admin"));

    let submitted = app
        .send(
            Method::POST,
            "/api/v1/tasks",
            Some(&app.admin_token),
            Some(&json!({ "kind": "ping", "payload": {} })),
        )
        .await;
    submitted.expect(202);
    calls.push((submitted, "admin"));

    let cluster = app
        .post(
            "/api/v1/clusters",
            &json!({ "name": "audited", "kind": "kafka", "bootstrapServers": "127.0.0.1:9092" }),
        )
        .await;
    let cluster_id = cluster.expect(201)["id"].as_str().expect("id").to_owned();
    calls.push((cluster, "admin"));

    // A call without a token is counted, not recorded: anyone could send
    // them, and a row each would let anyone grow the table.
    let anonymous = app
        .send(
            Method::POST,
            "/api/v1/tasks",
            None,
            Some(&json!({ "kind": "ping" })),
        )
        .await;
    anonymous.expect_problem(401);
    let metrics = app.get("/metrics").await;
    assert!(
        metrics
            .text
            .contains("ferry_http_unauthenticated_mutations_total{dialect=\"native\"} 1"),
        "{metrics}"
    );

    // Calls refused for the token's role are audited, as failures.
    let forbidden = app
        .send(
            Method::POST,
            "/api/v1/tokens",
            Some(&client),
            Some(&json!({ "name": "x", "role": "admin" })),
        )
        .await;
    forbidden.expect_problem(403);
    calls.push((forbidden, "ci-bot"));

    // A caller-chosen request id is kept and echoed.
    let path = format!("/api/v1/clusters/{cluster_id}");
    let resp = app
        .client
        .delete(app.url(&path))
        .bearer_auth(&app.admin_token)
        .header("x-request-id", "test-delete-42")
        .send()
        .await
        .expect("DELETE the cluster");
    let deleted = Reply::read("DELETE", &path, resp).await;
    deleted.expect(204);
    assert_eq!(deleted.request_id(), "test-delete-42", "{deleted:?}");
    calls.push((deleted, "admin"));

    // Reads are not audited.
    app.get("/api/v1/tasks").await.expect(200);
    app.get("/api/v1/clusters").await.expect(200);

    let audit = app.get("/api/v1/audit?pageSize=100").await.expect(200);
    assert_eq!(audit["total"], calls.len(), "{audit}");
    let entries = data(&audit);
    let listed: Vec<&str> = entries
        .iter()
        .map(|e| e["requestId"].as_str().unwrap_or_default())
        .collect();
    let expected: Vec<String> = calls.iter().rev().map(|(r, _)| r.request_id()).collect();
    assert_eq!(
        listed, expected,
        "the audit log is not the calls, newest first"
    );
    for ((reply, actor), entry) in calls.iter().rev().zip(entries) {
        assert_eq!(entry["actor"], *actor, "{entry} for {reply}");
        assert_eq!(entry["method"], reply.method, "{entry}");
        assert_eq!(entry["path"], reply.path, "{entry}");
        assert_eq!(entry["status"], reply.status.as_u16(), "{entry}");
        let outcome = if reply.status.is_success() {
            "success"
        } else {
            "failure"
        };
        assert_eq!(entry["outcome"], outcome, "{entry}");
    }

    let by_actor = app.get("/api/v1/audit?actor=ci-bot").await.expect(200);
    assert_eq!(by_actor["total"], 1, "{by_actor}");
    assert!(
        data(&by_actor).iter().all(|e| e["actor"] == "ci-bot"),
        "{by_actor}"
    );
}

/// stdout carries only the lines meant for people and scripts (where ferry
/// listens, a generated admin token); logs go to stderr.
#[tokio::test]
async fn logs_go_to_stderr() {
    let app = spawn_app(Backend::Sqlite).await;
    let id = app.ping(json!({})).await;
    app.wait_finished(&id).await;
    let stdout = app.api.stdout();
    assert!(
        stdout.lines().all(|line| line.starts_with("ferry: ")),
        "stdout carries more than ferry's own messages:\n{stdout}"
    );
    let stderr = app.api.stderr();
    assert!(
        stderr.contains("ferry api started"),
        "the logs are not on stderr:\n{stderr}"
    );
}

/// A MySQL/MariaDB metadata store is refused at start, before any connection
/// or key check, with the reason and the stores that work instead.
#[tokio::test]
async fn a_mysql_metadata_store_is_refused_with_the_reason() {
    let dir = tempfile::tempdir().expect("create a temporary directory");
    let env = vec![
        (
            "FERRY_DATABASE_URL".to_owned(),
            "mysql://root@127.0.0.1:3306/ferry_unused".to_owned(),
        ),
        ("FERRY_LISTEN".to_owned(), "127.0.0.1:0".to_owned()),
        ("NO_COLOR".to_owned(), "1".to_owned()),
    ];
    let mut api = ferry_tests::FerryProcess::spawn(
        "ferry-api",
        &ferry_tests::binaries::binary(ferry_tests::binaries::API),
        &["--with-worker"],
        &env,
        dir.path(),
    );
    let status = api.wait_exit(std::time::Duration::from_secs(30)).await;
    assert!(!status.success(), "ferry-api accepted a MySQL store");
    let output = api.output();
    for needle in [
        "MySQL/MariaDB",
        "SQLite and PostgreSQL only",
        "use sqlite: or postgres://",
    ] {
        assert!(
            output.contains(needle),
            "the refusal does not mention `{needle}`:\n{output}"
        );
    }
}
