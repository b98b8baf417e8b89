//! Changesets (`/api/v1/changesets`) against a real tansu broker: plans for
//! creates, config changes, partition increases and refused decreases; an
//! apply whose second plan is empty; approval by a second token; a stale
//! plan; deletes only with `allowDelete`; a failed changeset resumed from
//! where it stopped; drift reported (API and `/metrics`) and reverted.
//!
//! tansu 0.6.0 has no CreatePartitions, so a partition increase is shown
//! reaching the broker and its refusal failing the changeset; it keeps no
//! ACLs, so an ACL's step is shown reaching the broker.

use std::time::Duration;

use ferry_tests::{AppOptions, Backend, TestApp, eventually, kafka::TestKafka};
use reqwest::Method;
use serde_json::{Value, json};

const APPLY_TIMEOUT: Duration = Duration::from_secs(90);

async fn register(app: &TestApp, kafka: &TestKafka) -> i64 {
    let reply = app
        .post("/api/v1/clusters", &kafka.registration("main"))
        .await
        .expect(201);
    reply["id"].as_str().unwrap().parse().unwrap()
}

async fn plan(app: &TestApp, doc: &Value) -> Value {
    app.post("/api/v1/changesets?mode=plan", doc)
        .await
        .expect(201)
}

/// The change about `name` in a changeset's plan.
fn change<'a>(cs: &'a Value, name: &str) -> &'a Value {
    cs["plan"]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no change for {name}: {cs}"))
}

async fn wait_status(app: &TestApp, id: &str, status: &str) -> Value {
    eventually(
        &format!("changeset {id} to be {status}"),
        APPLY_TIMEOUT,
        || async {
            let cs = app
                .get(&format!("/api/v1/changesets/{id}"))
                .await
                .expect(200);
            if cs["status"] == status {
                Ok(cs)
            } else {
                Err(cs)
            }
        },
    )
    .await
}

fn id(cs: &Value) -> String {
    cs["id"].as_str().unwrap().to_owned()
}

async fn plan_apply_update_and_replan(backend: Backend) {
    let kafka = TestKafka::start().await;
    kafka.create_topic("cs.big", 4).await;
    let app = TestApp::spawn(backend).await;
    let cluster = register(&app, &kafka).await;

    // A decrease is refused, and a refused changeset cannot be applied.
    let refused = plan(
        &app,
        &json!({ "cluster": cluster, "name": "team", "topics": [
            { "name": "cs.orders", "partitions": 2, "configs": { "retention.ms": "3600000" } },
            { "name": "cs.big", "partitions": 2 },
        ]}),
    )
    .await;
    assert_eq!(refused["status"], "refused", "{refused}");
    let orders = change(&refused, "cs.orders");
    assert_eq!(orders["action"], "create");
    assert_eq!(
        orders["fields"],
        json!([
            { "field": "partitions", "old": null, "new": "2" },
            { "field": "configs.retention.ms", "old": null, "new": "3600000" },
        ])
    );
    let big = change(&refused, "cs.big");
    assert!(
        big["refused"].as_str().unwrap().contains("cannot lower"),
        "{big}"
    );
    assert_eq!(refused["plan"]["summary"]["refused"], 1);
    let apply = app
        .send(
            Method::POST,
            &format!("/api/v1/changesets/{}/apply", id(&refused)),
            Some(app.launcher().admin_token()),
            None,
        )
        .await
        .expect(409);
    assert!(
        apply["detail"].as_str().unwrap().contains("refused"),
        "{apply}"
    );
    assert!(app.get("/api/v1/tasks?kind=topic.create").await.expect(200)["total"] == 0);

    // Planned and applied at once; the topic gets what the document says.
    let doc = json!({ "cluster": cluster, "name": "team", "topics": [
        { "name": "cs.orders", "partitions": 2, "configs": { "retention.ms": "3600000" } },
        { "name": "cs.big", "partitions": 4 },
    ]});
    let accepted = app
        .post("/api/v1/changesets?mode=apply", &doc)
        .await
        .expect(202);
    assert_eq!(change(&accepted, "cs.big")["action"], "unchanged");
    let applied = wait_status(&app, &id(&accepted), "applied").await;
    assert_eq!(applied["steps"][0]["kind"], "topic.create", "{applied}");
    assert_eq!(applied["steps"][0]["status"], "succeeded");
    assert_eq!(kafka.partitions_of("cs.orders").await, Some(2));
    let again = plan(&app, &doc).await;
    assert_eq!(
        again["plan"]["summary"],
        json!({ "create": 0, "update": 0, "delete": 0, "unchanged": 2, "refused": 0 }),
        "{again}"
    );

    // A config change, sent as YAML, is one field from the live value.
    let yaml = format!(
        "cluster: {cluster}\nname: team\ntopics:\n  - name: cs.orders\n    partitions: 2\n    configs:\n      retention.ms: \"7200000\"\n  - name: cs.big\n    partitions: 4\n"
    );
    let changed = app
        .send_raw(
            Method::POST,
            "/api/v1/changesets?mode=plan",
            Some(app.launcher().admin_token()),
            Some("application/yaml"),
            Some(yaml.clone()),
        )
        .await
        .expect(201);
    assert_eq!(
        change(&changed, "cs.orders")["fields"],
        json!([{ "field": "configs.retention.ms", "old": "3600000", "new": "7200000" }]),
        "{changed}"
    );
    app.post(
        &format!("/api/v1/changesets/{}/apply", id(&changed)),
        &json!({}),
    )
    .await
    .expect(202);
    wait_status(&app, &id(&changed), "applied").await;
    let previous = app
        .get(&format!("/api/v1/changesets/{}", id(&accepted)))
        .await
        .expect(200);
    assert_eq!(previous["status"], "superseded");
    let last = app
        .send_raw(
            Method::POST,
            "/api/v1/changesets?mode=plan",
            Some(app.launcher().admin_token()),
            Some("application/yaml"),
            Some(yaml),
        )
        .await
        .expect(201);
    assert_eq!(last["plan"]["summary"]["update"], 0, "{last}");
    assert_eq!(last["plan"]["summary"]["unchanged"], 2);

    // A partition increase reaches the broker, whose refusal (tansu has no
    // CreatePartitions) fails the changeset with the step's error.
    let grow = app
        .post(
            "/api/v1/changesets?mode=apply",
            &json!({ "cluster": cluster, "name": "team", "topics": [
                { "name": "cs.orders", "partitions": 3, "configs": { "retention.ms": "7200000" } },
                { "name": "cs.big", "partitions": 4 },
            ]}),
        )
        .await
        .expect(202);
    assert_eq!(
        change(&grow, "cs.orders")["fields"],
        json!([{ "field": "partitions", "old": "2", "new": "3" }])
    );
    let failed = wait_status(&app, &id(&grow), "failed").await;
    assert_eq!(failed["steps"][0]["kind"], "topic.partitions", "{failed}");
    assert_eq!(failed["steps"][0]["status"], "failed");
}

ferry_tests::both_backends!(plan_apply_update_and_replan);

#[tokio::test]
async fn approval_needs_a_second_token() {
    let kafka = TestKafka::start().await;
    let app = TestApp::spawn(Backend::Sqlite).await;
    let cluster = register(&app, &kafka).await;
    let (_, ci) = app.mint_token("ci", "client").await;
    let doc = json!({ "cluster": cluster, "name": "reviewed", "requireApproval": true,
        "topics": [{ "name": "cs.reviewed" }] });
    let waiting = app
        .send(
            Method::POST,
            "/api/v1/changesets?mode=apply",
            Some(&ci),
            Some(&doc),
        )
        .await
        .expect(202);
    assert_eq!(waiting["status"], "awaitingApproval", "{waiting}");
    assert_eq!(waiting["appliedBy"], "ci");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        app.get("/api/v1/tasks").await.expect(200)["total"],
        0,
        "nothing runs before approval"
    );
    assert_eq!(kafka.partitions_of("cs.reviewed").await, None);
    let path = format!("/api/v1/changesets/{}/approve", id(&waiting));
    let own = app
        .send(Method::POST, &path, Some(&ci), None)
        .await
        .expect(403);
    assert!(
        own["detail"].as_str().unwrap().contains("another token"),
        "{own}"
    );
    let approved = app.post(&path, &json!({})).await.expect(202);
    assert_eq!(approved["approvedBy"], "admin", "{approved}");
    wait_status(&app, &id(&waiting), "applied").await;
    assert_eq!(kafka.partitions_of("cs.reviewed").await, Some(1));
}

#[tokio::test]
async fn stale_plans_deletes_and_resume() {
    let kafka = TestKafka::start().await;
    kafka.create_topic("r0", 1).await;
    let app = TestApp::spawn(Backend::Sqlite).await;
    let cluster = register(&app, &kafka).await;

    // The cluster moved between plan and apply: nothing is applied.
    let planned = plan(
        &app,
        &json!({ "cluster": cluster, "name": "s", "topics": [{ "name": "cs.stale" }] }),
    )
    .await;
    kafka.create_topic("cs.stale", 3).await;
    let stale = app
        .post(
            &format!("/api/v1/changesets/{}/apply", id(&planned)),
            &json!({}),
        )
        .await
        .expect(409);
    assert!(
        stale["detail"].as_str().unwrap().contains("stale"),
        "{stale}"
    );
    let read = app
        .get(&format!("/api/v1/changesets/{}", id(&planned)))
        .await
        .expect(200);
    assert_eq!(read["status"], "stale");

    // Only what the previous changeset of the name managed is deleted, and
    // only with allowDelete.
    let both = app
        .post(
            "/api/v1/changesets?mode=apply",
            &json!({ "cluster": cluster, "name": "d",
            "topics": [{ "name": "d1" }, { "name": "d2" }] }),
        )
        .await
        .expect(202);
    wait_status(&app, &id(&both), "applied").await;
    let one = plan(
        &app,
        &json!({ "cluster": cluster, "name": "d", "topics": [{ "name": "d1" }] }),
    )
    .await;
    assert_eq!(one["status"], "refused");
    let d2 = change(&one, "d2");
    assert_eq!(d2["action"], "delete");
    assert!(
        d2["refused"].as_str().unwrap().contains("allowDelete"),
        "{d2}"
    );
    assert!(
        !one["plan"]["changes"].to_string().contains("cs.stale"),
        "a topic no changeset of the name managed is not touched"
    );
    let deleting = app
        .post(
            "/api/v1/changesets?mode=apply",
            &json!({ "cluster": cluster, "name": "d",
            "allowDelete": true, "topics": [{ "name": "d1" }] }),
        )
        .await
        .expect(202);
    wait_status(&app, &id(&deleting), "applied").await;
    assert_eq!(kafka.partitions_of("d2").await, None);
    assert_eq!(kafka.partitions_of("d1").await, Some(1));

    // A failed changeset resumes where it stopped: the topic it created is
    // not created again, the failed step is tried again.
    let doc = json!({ "cluster": cluster, "name": "r", "topics": [
        { "name": "r1" }, { "name": "r0", "partitions": 3 }] });
    let first = app
        .post("/api/v1/changesets?mode=apply", &doc)
        .await
        .expect(202);
    let failed = wait_status(&app, &id(&first), "failed").await;
    let created = failed["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["kind"] == "topic.create")
        .expect("r1's step")
        .clone();
    assert_eq!(created["status"], "succeeded");
    app.post(
        &format!("/api/v1/changesets/{}/resume", id(&first)),
        &json!({}),
    )
    .await
    .expect(202);
    let again = eventually(
        "the resumed changeset to fail again",
        APPLY_TIMEOUT,
        || async {
            let cs = app
                .get(&format!("/api/v1/changesets/{}", id(&first)))
                .await
                .expect(200);
            let tasks = app
                .get("/api/v1/tasks?kind=topic.partitions")
                .await
                .expect(200);
            if cs["status"] == "failed" && tasks["total"] == 2 {
                Ok(cs)
            } else {
                Err(cs)
            }
        },
    )
    .await;
    assert!(
        again["steps"].as_array().unwrap().contains(&created),
        "{again}"
    );
    let creates = app.get("/api/v1/tasks?kind=topic.create").await.expect(200);
    let r1 = creates["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["subject"] == "r1")
        .count();
    assert_eq!(r1, 1, "r1 is created once");

    // An ACL's step reaches the broker and its answer the changeset.
    let acl = json!({ "resourceType": "TOPIC", "resourceName": "r", "patternType": "PREFIXED",
        "principal": "User:app", "operation": "WRITE", "permission": "ALLOW" });
    let acls = app
        .post(
            "/api/v1/changesets?mode=apply",
            &json!({ "cluster": cluster, "name": "acl", "acls": [acl] }),
        )
        .await
        .expect(202);
    assert_eq!(
        acls["plan"]["changes"][0]["name"],
        "TOPIC:PREFIXED:r User:app * WRITE ALLOW"
    );
    assert_eq!(acls["document"]["acls"][0]["resourceType"], "TOPIC");
    let done = eventually("the ACL step to finish", APPLY_TIMEOUT, || async {
        let cs = app
            .get(&format!("/api/v1/changesets/{}", id(&acls)))
            .await
            .expect(200);
        if matches!(cs["status"].as_str(), Some("applied" | "failed")) {
            Ok(cs)
        } else {
            Err(cs)
        }
    })
    .await;
    let step = &done["steps"][0];
    assert_eq!(step["kind"], "acl.create", "{done}");
    let task = app.task(step["taskId"].as_str().unwrap()).await;
    assert!(task["attempts"].as_i64().unwrap() >= 1, "{task}");
}

#[tokio::test]
async fn drift_is_reported_and_reverted() {
    let kafka = TestKafka::start().await;
    let app = TestApp::spawn_with(
        AppOptions::new(Backend::Sqlite).env("FERRY_WORKER__DRIFT_INTERVAL_SECONDS", "1"),
    )
    .await;
    let cluster = register(&app, &kafka).await;
    let applied = app
        .post(
            "/api/v1/changesets?mode=apply",
            &json!({ "cluster": cluster, "name": "w",
            "watch": true, "topics": [{ "name": "cs.watched", "partitions": 2 }] }),
        )
        .await
        .expect(202);
    let cs = id(&applied);
    wait_status(&app, &cs, "applied").await;
    eventually("a first drift check", APPLY_TIMEOUT, || async {
        let read = app
            .get(&format!("/api/v1/changesets/{cs}"))
            .await
            .expect(200);
        if read["drift"]["changes"] == json!([]) {
            Ok(())
        } else {
            Err(read)
        }
    })
    .await;

    // Deleted behind ferry's back: drift, in the API and in /metrics.
    let admin = kafka.admin();
    admin
        .delete_topics(&["cs.watched"], &rdkafka::admin::AdminOptions::new())
        .await
        .unwrap();
    let drifted = eventually("the drift to show", APPLY_TIMEOUT, || async {
        let read = app
            .get(&format!("/api/v1/changesets/{cs}"))
            .await
            .expect(200);
        if read["drift"]["changes"][0]["action"] == "create" {
            Ok(read)
        } else {
            Err(read)
        }
    })
    .await;
    assert_eq!(drifted["drift"]["changes"][0]["name"], "cs.watched");
    let metrics = app.get("/metrics").await.text;
    assert!(
        metrics.contains(&format!(
            "ferry_changeset_drift_changes{{changeset=\"{cs}\",name=\"w\",cluster=\"{cluster}\"}} 1"
        )),
        "{metrics}"
    );

    // Reverted through ordinary tasks once asked.
    app.send(
        Method::PATCH,
        &format!("/api/v1/changesets/{cs}"),
        Some(app.launcher().admin_token()),
        Some(&json!({ "watch": true, "revert": true })),
    )
    .await
    .expect(200);
    eventually("the topic to be put back", APPLY_TIMEOUT, || async {
        match kafka.partitions_of("cs.watched").await {
            Some(2) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    eventually("the drift to clear", APPLY_TIMEOUT, || async {
        let read = app
            .get(&format!("/api/v1/changesets/{cs}"))
            .await
            .expect(200);
        if read["drift"]["changes"] == json!([]) {
            Ok(())
        } else {
            Err(read)
        }
    })
    .await;
    let reverts = app.get("/api/v1/tasks?kind=topic.create").await.expect(200);
    assert_eq!(
        reverts["total"], 2,
        "the apply's and the revert's: {reverts}"
    );

    // A check on demand is a task of its own.
    let check = app
        .post(&format!("/api/v1/changesets/{cs}/drift"), &json!({}))
        .await;
    // One may be running already (every second): then it is refused as busy.
    if check.status.as_u16() == 202 {
        let task = app
            .wait_finished(check.json()["id"].as_str().unwrap())
            .await;
        assert_eq!(task["kind"], "changeset.drift");
        assert_eq!(task["status"], "succeeded", "{task}");
        assert_eq!(task["result"]["drift"], 0);
    } else {
        assert_eq!(check.status.as_u16(), 409, "{}", check.text);
    }
}

#[tokio::test]
async fn documents_are_checked() {
    let kafka = TestKafka::start().await;
    let app = TestApp::spawn(Backend::Sqlite).await;
    let cluster = register(&app, &kafka).await;
    let bad = |doc: Value| {
        let app = &app;
        async move {
            app.post("/api/v1/changesets?mode=plan", &doc)
                .await
                .expect(400)
        }
    };
    let unknown = bad(json!({ "cluster": cluster, "name": "x", "topics": [
        { "name": "a", "configs": { "retention.msx": "1" } }] }))
    .await;
    assert!(
        unknown["detail"]
            .as_str()
            .unwrap()
            .contains("topics[0]: unknown topic config"),
        "{unknown}"
    );
    let twice = bad(
        json!({ "cluster": cluster, "name": "x", "topics": [{ "name": "a" }, { "name": "a" }] }),
    )
    .await;
    assert!(
        twice["detail"].as_str().unwrap().contains("named twice"),
        "{twice}"
    );
    let revert = bad(json!({ "cluster": cluster, "name": "x", "revert": true })).await;
    assert!(
        revert["detail"]
            .as_str()
            .unwrap()
            .contains("revert needs watch"),
        "{revert}"
    );
    let acl = bad(
        json!({ "cluster": cluster, "name": "x", "acls": [{ "resourceType": "TABLE",
        "resourceName": "a", "patternType": "LITERAL", "principal": "User:a", "operation": "READ",
        "permission": "ALLOW" }] }),
    )
    .await;
    assert!(
        acl["detail"].as_str().unwrap().starts_with("acls[0]"),
        "{acl}"
    );
    let yaml = app
        .send_raw(
            Method::POST,
            "/api/v1/changesets?mode=plan",
            Some(app.launcher().admin_token()),
            Some("application/yaml"),
            Some("cluster: [unclosed".to_owned()),
        )
        .await
        .expect(400);
    assert_eq!(yaml["status"], 400, "{yaml}");
    // YAML's untyped scalars are held to the schema as JSON's are, but for a
    // config's value, which may be written as a number.
    let typed = app
        .send_raw(
            Method::POST,
            "/api/v1/changesets?mode=plan",
            Some(app.launcher().admin_token()),
            Some("application/yaml"),
            Some(format!("cluster: {cluster}\nname: x\nchangefeeds:\n  - name: f\n    clusterId: '1'\n    downstreamType: mysql\n    downstream: {{}}\n    startTs: false\n")),
        )
        .await
        .expect(400);
    assert!(
        typed["detail"].as_str().unwrap().contains("startTs"),
        "{typed}"
    );
    let numbers = app
        .send_raw(
            Method::POST,
            "/api/v1/changesets?mode=plan",
            Some(app.launcher().admin_token()),
            Some("application/yaml"),
            Some(format!("cluster: {cluster}\nname: numbers\ntopics:\n  - name: n1\n    configs:\n      retention.ms: 86400000\n")),
        )
        .await
        .expect(201);
    assert_eq!(
        change(&numbers, "n1")["fields"][0],
        json!({ "field": "configs.retention.ms", "old": null, "new": "86400000" })
    );
    // A changefeed's downstream password is sealed, never shown.
    let sealed = app
        .post(
            "/api/v1/changesets?mode=plan",
            &json!({ "cluster": cluster, "name": "sealed", "changefeeds": [{ "name": "f",
                "clusterId": "1", "downstreamType": "mysql", "rules": ["db.*"],
                "downstream": { "ip": "127.0.0.1", "port": 3306, "username": "u", "password": "s3cret-pw" } }] }),
        )
        .await
        .expect(201);
    assert_eq!(
        sealed["document"]["changefeeds"][0]["downstream"]["password"], "******",
        "{sealed}"
    );
    assert!(!sealed.to_string().contains("s3cret-pw"));
    let (_, client) = app.mint_token("feeds", "client").await;
    let by_address = app
        .send(
            Method::POST,
            "/api/v1/changesets?mode=plan",
            Some(&client),
            Some(
                &json!({ "cluster": cluster, "name": "x", "changefeeds": [{ "name": "f",
                "clusterId": "1", "downstreamType": "mysql",
                "downstream": { "ip": "127.0.0.1", "port": 3306, "username": "u" } }] }),
            ),
        )
        .await
        .expect(403);
    assert!(
        by_address["detail"]
            .as_str()
            .unwrap()
            .contains("global admin"),
        "{by_address}"
    );
    let missing = app
        .post(
            "/api/v1/changesets?mode=plan",
            &json!({ "cluster": 999, "name": "x" }),
        )
        .await
        .expect(404);
    assert!(missing["detail"].as_str().is_some());
    assert_eq!(
        app.get("/api/v1/changesets").await.expect(200)["total"],
        2,
        "nothing refused was recorded, only the two plans that were accepted"
    );
}
