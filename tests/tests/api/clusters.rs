//! The cluster registry, and the secrets it holds.

use crate::helpers::*;

both_backends!(
    clusters_can_be_created_read_updated_and_deleted,
    a_cluster_with_pending_tasks_cannot_be_deleted,
    cluster_passwords_never_leave_the_server,
);

async fn clusters_can_be_created_read_updated_and_deleted(backend: Backend) {
    let app = spawn_api_only(backend).await;

    // Invalid input is refused with a message that names the field.
    for (body, field) in [
        (
            json!({ "name": "k1", "kind": "kafka", "bootstrapServers": "no-port-here" }),
            "bootstrapServers",
        ),
        (json!({ "name": "k1", "kind": "kafka" }), "bootstrapServers"),
        (
            json!({ "name": "k1", "kind": "zookeeper", "bootstrapServers": "h:1" }),
            "kind",
        ),
        (
            json!({ "kind": "kafka", "bootstrapServers": "h:1" }),
            "name",
        ),
        (
            json!({ "name": "db", "kind": "mysql", "host": "h", "port": 70000, "user": "u" }),
            "port",
        ),
    ] {
        let detail = app
            .post("/api/v1/clusters", &body)
            .await
            .expect_problem(400);
        assert!(
            detail.contains(field),
            "the error for {body} does not name `{field}`: {detail}"
        );
    }
    assert!(data(&app.get("/api/v1/clusters").await.expect(200)).is_empty());

    let created = app
        .post(
            "/api/v1/clusters",
            &json!({
                "name": "kafka-main",
                "kind": "kafka",
                "bootstrapServers": " 127.0.0.1:9092, 127.0.0.2:9093 ",
            }),
        )
        .await
        .expect(201);
    let id = created["id"]
        .as_str()
        .expect("the cluster has an id")
        .to_owned();
    assert_eq!(created["name"], "kafka-main", "{created}");
    assert_eq!(created["kind"], "kafka", "{created}");
    assert_eq!(
        created["bootstrapServers"], "127.0.0.1:9092,127.0.0.2:9093",
        "{created}"
    );
    assert_eq!(created["passwordSet"], false, "{created}");

    let read = app.get(&format!("/api/v1/clusters/{id}")).await.expect(200);
    assert_eq!(read, created, "GET differs from the create response");

    let mysql = app
        .post(
            "/api/v1/clusters",
            &json!({ "name": "db-main", "kind": "mysql", "host": "127.0.0.1", "user": "repl" }),
        )
        .await
        .expect(201);
    assert_eq!(
        mysql["port"], 3306,
        "MySQL's default port is not applied: {mysql}"
    );
    let mysql_id = mysql["id"].as_str().expect("id").to_owned();

    let list = app.get("/api/v1/clusters").await.expect(200);
    let names: Vec<&str> = data(&list)
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names, ["kafka-main", "db-main"], "{list}");
    let kafka_only = app.get("/api/v1/clusters?kind=kafka").await.expect(200);
    assert_eq!(data(&kafka_only).len(), 1, "{kafka_only}");
    assert_eq!(data(&kafka_only)[0]["id"], id.as_str(), "{kafka_only}");
    app.get("/api/v1/clusters?kind=zookeeper")
        .await
        .expect_problem(400);

    // An update changes only the fields it names.
    let renamed = app
        .put(
            &format!("/api/v1/clusters/{id}"),
            &json!({ "name": "kafka-renamed" }),
        )
        .await
        .expect(200);
    assert_eq!(renamed["name"], "kafka-renamed", "{renamed}");
    assert_eq!(
        renamed["bootstrapServers"], "127.0.0.1:9092,127.0.0.2:9093",
        "{renamed}"
    );
    let read = app.get(&format!("/api/v1/clusters/{id}")).await.expect(200);
    assert_eq!(read["name"], "kafka-renamed", "{read}");
    let detail = app
        .put(
            &format!("/api/v1/clusters/{id}"),
            &json!({ "bootstrapServers": "nope" }),
        )
        .await
        .expect_problem(400);
    assert!(detail.contains("bootstrapServers"), "{detail}");
    // The stored cluster's kind refuses it: a conflict, not a bad body.
    app.put(
        &format!("/api/v1/clusters/{id}"),
        &json!({ "kind": "mysql" }),
    )
    .await
    .expect_problem(409);

    // Names are unique, on create and on rename.
    app.post(
        "/api/v1/clusters",
        &json!({ "name": "kafka-renamed", "kind": "kafka", "bootstrapServers": "h:1" }),
    )
    .await
    .expect_problem(409);
    app.put(
        &format!("/api/v1/clusters/{mysql_id}"),
        &json!({ "name": "kafka-renamed" }),
    )
    .await
    .expect_problem(409);
    app.put("/api/v1/clusters/999999", &json!({ "name": "ghost" }))
        .await
        .expect_problem(404);

    let deleted = app.delete(&format!("/api/v1/clusters/{id}")).await;
    deleted.expect(204);
    app.get(&format!("/api/v1/clusters/{id}"))
        .await
        .expect_problem(404);
    app.delete(&format!("/api/v1/clusters/{id}"))
        .await
        .expect_problem(404);
    app.get("/api/v1/clusters/not-a-number")
        .await
        .expect_problem(404);
    let list = app.get("/api/v1/clusters").await.expect(200);
    assert_eq!(data(&list).len(), 1, "{list}");
}

async fn a_cluster_with_pending_tasks_cannot_be_deleted(backend: Backend) {
    // Without a worker the task stays pending.
    let app = spawn_api_only(backend).await;
    let cluster = app
        .post(
            "/api/v1/clusters",
            &json!({ "name": "busy", "kind": "kafka", "bootstrapServers": "127.0.0.1:9092" }),
        )
        .await
        .expect(201);
    let id = cluster["id"].as_str().expect("id").to_owned();
    let task = app
        .submit(&json!({ "kind": "ping", "clusterId": id, "payload": {} }))
        .await;

    let detail = app
        .delete(&format!("/api/v1/clusters/{id}"))
        .await
        .expect_problem(409);
    assert!(
        detail.contains("pending"),
        "the conflict does not say why: {detail}"
    );
    app.get(&format!("/api/v1/clusters/{id}")).await.expect(200);

    // Once the task is out of the way the cluster can go.
    app.cancel(&task_id(&task)).await.expect(200);
    app.delete(&format!("/api/v1/clusters/{id}"))
        .await
        .expect(204);
}

async fn cluster_passwords_never_leave_the_server(backend: Backend) {
    const MYSQL_PASSWORD: &str = "S3cr3t-pa55";
    const SASL_PASSWORD: &str = "Sa5l-pa55-w0rd";
    const ROTATED_PASSWORD: &str = "R0tated-pa55";
    let secrets = [MYSQL_PASSWORD, SASL_PASSWORD, ROTATED_PASSWORD];
    let assert_clean = |what: &str, text: &str| {
        for secret in secrets {
            assert!(
                !text.contains(secret),
                "{what} contains the password {secret}:\n{text}"
            );
        }
    };

    // The most verbose logging ferry has, as JSON lines.
    let app = TestApp::spawn_with(
        AppOptions::new(backend)
            .without_worker()
            .env("FERRY_LOG_FORMAT", "json")
            .env("RUST_LOG", "debug"),
    )
    .await;

    let mut replies = Vec::new();
    let mysql = app
        .post(
            "/api/v1/clusters",
            &json!({
                "name": "mysql-1",
                "kind": "mysql",
                "host": "127.0.0.1",
                "port": 3306,
                "user": "repl",
                "password": MYSQL_PASSWORD,
            }),
        )
        .await;
    let body = mysql.expect(201);
    assert_eq!(body["password"], "******", "{body}");
    assert_eq!(body["passwordSet"], true, "{body}");
    let mysql_id = body["id"].as_str().expect("id").to_owned();
    replies.push(mysql);

    let kafka = app
        .post(
            "/api/v1/clusters",
            &json!({
                "name": "kafka-1",
                "kind": "kafka",
                "bootstrapServers": "127.0.0.1:9092",
                "sasl": { "mechanism": "SCRAM-SHA-512", "username": "ferry", "password": SASL_PASSWORD },
            }),
        )
        .await;
    let body = kafka.expect(201);
    assert_eq!(body["sasl"]["password"], "******", "{body}");
    assert_eq!(body["sasl"]["passwordSet"], true, "{body}");
    assert_eq!(body["sasl"]["username"], "ferry", "{body}");
    let kafka_id = body["id"].as_str().expect("id").to_owned();
    replies.push(kafka);

    replies.push(app.get(&format!("/api/v1/clusters/{mysql_id}")).await);
    replies.push(app.get(&format!("/api/v1/clusters/{kafka_id}")).await);
    replies.push(app.get("/api/v1/clusters").await);
    // Updates that do not mention the password keep it; a new one replaces it.
    let renamed = app
        .put(
            &format!("/api/v1/clusters/{mysql_id}"),
            &json!({ "name": "mysql-renamed" }),
        )
        .await;
    assert_eq!(renamed.expect(200)["passwordSet"], true, "{renamed}");
    replies.push(renamed);
    let rotated = app
        .put(
            &format!("/api/v1/clusters/{mysql_id}"),
            &json!({ "password": ROTATED_PASSWORD }),
        )
        .await;
    assert_eq!(rotated.expect(200)["passwordSet"], true, "{rotated}");
    replies.push(rotated);
    let kafka_renamed = app
        .put(
            &format!("/api/v1/clusters/{kafka_id}"),
            &json!({ "name": "kafka-renamed" }),
        )
        .await;
    assert_eq!(
        kafka_renamed.expect(200)["sasl"]["passwordSet"],
        true,
        "{kafka_renamed}"
    );
    replies.push(kafka_renamed);
    for reply in &replies {
        assert!(reply.status.is_success(), "{reply}");
        assert_clean(&reply.to_string(), &reply.text);
    }

    let audit = app.get("/api/v1/audit?pageSize=500").await;
    let body = audit.expect(200);
    assert!(
        body["total"].as_u64().unwrap_or(0) >= 5,
        "the cluster calls were not audited: {body}"
    );
    assert_clean("the audit log", &audit.text);

    // Secrets are stored encrypted, and only in the `secret` column.
    let stored = app
        .db
        .query_strings("SELECT secret FROM clusters ORDER BY id")
        .await;
    assert_eq!(stored.len(), 2, "{stored:?}");
    for secret in &stored {
        let secret = secret
            .as_deref()
            .expect("a cluster with a password has a stored secret");
        assert!(
            secret.starts_with("v1:"),
            "the secret is not a v1 ciphertext: {secret}"
        );
        assert_clean("clusters.secret", secret);
    }
    let settings = app
        .db
        .query_strings("SELECT CAST(settings AS TEXT) FROM clusters")
        .await;
    assert_clean("clusters.settings", &format!("{settings:?}"));
    let audit_rows = app
        .db
        .query_strings("SELECT path || ' ' || COALESCE(CAST(detail AS TEXT), '') FROM audit_log")
        .await;
    assert_clean("the audit_log table", &format!("{audit_rows:?}"));
    if backend == Backend::Sqlite {
        assert!(
            app.db.dir().join("ferry.key").is_file(),
            "no key file was created beside the SQLite database"
        );
    }

    // The logs were really written at debug level, as JSON, and still hold
    // no password.
    let logs = app.api.output();
    let json_lines = logs
        .lines()
        .filter(|l| serde_json::from_str::<Value>(l).is_ok())
        .count();
    assert!(json_lines > 10, "expected JSON log lines, got:\n{logs}");
    assert!(
        logs.to_lowercase().contains("\"level\":\"debug\""),
        "RUST_LOG=debug produced no debug lines:\n{logs}"
    );
    assert_clean("the API's log", &logs);

    // An empty password clears it.
    let cleared = app
        .put(
            &format!("/api/v1/clusters/{mysql_id}"),
            &json!({ "password": "" }),
        )
        .await
        .expect(200);
    assert_eq!(cleared["passwordSet"], false, "{cleared}");
    assert!(cleared["password"].is_null(), "{cleared}");
}
