//! ACLs (`/v3/clusters/{cluster_id}/acls`) and the partition count increase
//! (`PATCH .../topics/{topic_name}`), against tansu 0.6.0.
//!
//! tansu serves DescribeAcls (and keeps no ACL), takes CreateAcls without
//! keeping what it creates (its answer lacks the results array, which is
//! why ferry sends CreateAcls over its own connection: librdkafka 2.12
//! aborts the process on that answer), and has neither DeleteAcls nor
//! CreatePartitions. So a search is tested end to end (an empty list in
//! Confluent's shape, its filters parsed and bad ones refused); a create as
//! a task that reaches the broker and either succeeds or fails on the
//! broker's answer, with ferry alive after it; a delete and a partition
//! increase as tasks whose refusal by the broker reaches the caller in
//! Confluent's envelope, and the task as failed, not stuck. That the broker
//! then holds the ACL, or the partitions, is proven only as far as its
//! answer.

use ferry_tests::{Backend, Reply, TestApp, kafka::TestKafka};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

fn acl(resource_name: &str) -> Value {
    json!({
        "resource_type": "TOPIC",
        "resource_name": resource_name,
        "pattern_type": "LITERAL",
        "principal": "User:alice",
        "host": "*",
        "operation": "READ",
        "permission": "ALLOW",
    })
}

/// A change the broker cannot make: refused in Confluent's envelope (the
/// task failed within the wait), or accepted as running (202) and then
/// failed. Never a 500. Returns the task as the native API shows it.
async fn refused_by_the_broker(app: &TestApp, reply: &Reply, cluster: &str, kind: &str) -> Value {
    let status = reply.status.as_u16();
    assert_ne!(status, 500, "{reply}");
    match status {
        202 => {
            let body = reply.json();
            assert_eq!(body["kind"], "FerryTask", "{reply}");
            assert_eq!(body["task_kind"], kind, "{reply}");
        }
        409 => {
            let message = expect_error(reply, 409, 40903);
            assert!(message.contains("(task "), "{reply}");
        }
        503 => {
            expect_error(reply, 503, 50003);
        }
        _ => panic!("expected 409, 503 or 202: {reply}"),
    }
    let tasks = tasks_of(app, cluster, kind).await;
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    let id = tasks[0]["id"].as_str().expect("task id").to_owned();
    let task = app.wait_finished(&id).await;
    assert_eq!(task["status"], "failed", "{task}");
    assert!(
        task["lastError"].as_str().is_some_and(|e| !e.is_empty()),
        "{task}"
    );
    task
}

async fn acls_through_v3(backend: Backend) {
    let kafka = TestKafka::start().await;
    let app = TestApp::spawn(backend).await;
    let cluster = add_cluster(&app, &kafka).await;

    // The cluster links to its ACLs.
    let one = app.get(&v3(&cluster, "")).await.expect(200);
    assert!(
        one["acls"]["related"]
            .as_str()
            .is_some_and(|l| l.ends_with(&format!("/v3/clusters/{cluster}/acls"))),
        "{one}"
    );

    // Search: tansu keeps no ACL, so the list is empty, in the seed's shape.
    let all = app.get(&v3(&cluster, "/acls")).await.expect(200);
    assert!(list_data(&all, "KafkaAclList").is_empty(), "{all}");
    assert!(
        all["metadata"]["self"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/v3/clusters/{cluster}/acls")),
        "{all}"
    );
    let query = "resource_type=TOPIC&resource_name=orders&pattern_type=MATCH\
                 &principal=User:alice&host=*&operation=ANY&permission=ALLOW";
    let filtered = app
        .get(&v3(&cluster, &format!("/acls?{query}")))
        .await
        .expect(200);
    assert!(list_data(&filtered, "KafkaAclList").is_empty());
    assert!(
        filtered["metadata"]["self"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/acls?{query}")),
        "{filtered}"
    );

    // A filter outside its values is refused, naming it and its values.
    for (bad, field, value) in [
        ("resource_type=FOO", "resource_type", "TRANSACTIONAL_ID"),
        ("operation=read", "operation", "DESCRIBE_CONFIGS"),
        ("pattern_type=EXACT", "pattern_type", "PREFIXED"),
        ("permission=MAYBE", "permission", "ALLOW"),
    ] {
        let reply = app.get(&v3(&cluster, &format!("/acls?{bad}"))).await;
        let message = expect_error(&reply, 400, 400);
        assert!(
            message.contains(field) && message.contains(value),
            "{bad}: {reply}"
        );
    }

    // Create: one `acl.create` task that reaches tansu. A whole answer is
    // 201; tansu's answer may lack its results, and then the task fails
    // with that named, in Confluent's envelope. Either way ferry lives on
    // (the later calls and tasks of this test run).
    let created = app.post(&v3(&cluster, "/acls"), &acl("orders")).await;
    let create = if created.status.as_u16() == 201 {
        let creates = tasks_of(&app, &cluster, "acl.create").await;
        assert_eq!(creates.len(), 1, "{creates:?}");
        assert_eq!(creates[0]["status"], "succeeded", "{creates:?}");
        creates[0].clone()
    } else {
        refused_by_the_broker(&app, &created, &cluster, "acl.create").await
    };
    assert_eq!(create["subject"], "TOPIC:LITERAL:orders");
    assert_eq!(create["payload"]["acl"]["principal"], "User:alice");
    assert_eq!(create["payload"]["acl"]["operation"], "READ");
    let audit = app.get("/api/v1/audit?pageSize=100").await.expect(200);
    let entries: Vec<&Value> = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["path"] == v3(&cluster, "/acls") && e["method"] == "POST")
        .collect();
    assert_eq!(entries.len(), 1, "{audit}");
    assert_eq!(entries[0]["status"], created.status.as_u16());
    assert_eq!(entries[0]["detail"]["acl"]["resource_name"], "orders");

    // Bodies the document refuses, each naming its field; nothing recorded.
    let mut any = acl("orders");
    any["operation"] = json!("ANY");
    let mut no_type = acl("orders");
    no_type["principal"] = json!("alice");
    let mut missing = acl("orders");
    missing.as_object_mut().unwrap().remove("host");
    for (body, status, field) in [
        (any, 422, "operation"),
        (no_type, 422, "principal"),
        (missing, 400, "host"),
    ] {
        let reply = app.post(&v3(&cluster, "/acls"), &body).await;
        let message = expect_error(&reply, status, i64::from(status));
        assert!(message.contains(field), "{reply}");
    }
    assert_eq!(tasks_of(&app, &cluster, "acl.create").await.len(), 1);

    // Delete: without its required filters it is refused and records
    // nothing, so that no call deletes every ACL by leaving them out.
    for partial in ["", "?resource_type=ANY&pattern_type=ANY&operation=ANY"] {
        let reply = app.delete(&v3(&cluster, &format!("/acls{partial}"))).await;
        let message = expect_error(&reply, 400, 400);
        assert!(
            message.contains("resource_type") || message.contains("permission"),
            "{reply}"
        );
    }
    assert!(tasks_of(&app, &cluster, "acl.delete").await.is_empty());
    // tansu has no DeleteAcls: the task reaches it and fails, and the caller
    // hears why.
    let reply = app
        .delete(&v3(
            &cluster,
            "/acls?resource_type=TOPIC&resource_name=orders&pattern_type=LITERAL\
             &operation=ANY&permission=ANY",
        ))
        .await;
    let task = refused_by_the_broker(&app, &reply, &cluster, "acl.delete").await;
    assert_eq!(task["subject"], "TOPIC:LITERAL:orders");
    assert_eq!(task["payload"]["filter"]["resource_name"], "orders");
    assert_eq!(task["payload"]["filter"]["pattern_type"], "LITERAL");
}

ferry_tests::both_backends!(acls_through_v3);

async fn partition_count_increase(backend: Backend) {
    let kafka = TestKafka::start().await;
    let app = TestApp::spawn(backend).await;
    let cluster = add_cluster(&app, &kafka).await;
    create_topic(
        &app,
        &cluster,
        json!({ "topic_name": "grow", "partitions_count": 2 }),
    )
    .await;
    let path = v3(&cluster, "/topics/grow");
    let patch = |body: Value| {
        let app = &app;
        let path = path.clone();
        async move {
            app.send(Method::PATCH, &path, Some(&app.admin_token), Some(&body))
                .await
        }
    };

    // A count that adds nothing is refused, naming the current one.
    for fewer in [1, 2] {
        let reply = patch(json!({ "partitions_count": fewer })).await;
        let message = expect_error(&reply, 422, 422);
        assert!(
            message.contains("current 2") && message.contains("never remove"),
            "{reply}"
        );
    }
    let reply = patch(json!({ "partitions_count": 0 })).await;
    assert!(expect_error(&reply, 422, 422).contains("partitions_count"));
    let reply = patch(json!({})).await;
    assert!(expect_error(&reply, 400, 400).contains("partitions_count"));
    let unknown = app
        .send(
            Method::PATCH,
            &v3(&cluster, "/topics/unknown"),
            Some(&app.admin_token),
            Some(&json!({ "partitions_count": 3 })),
        )
        .await;
    expect_error(&unknown, 404, 40401);
    assert!(
        tasks_of(&app, &cluster, "topic.partitions")
            .await
            .is_empty()
    );

    // A larger count is a `topic.partitions` task; tansu has no
    // CreatePartitions, so it fails and the caller hears why.
    let reply = patch(json!({ "partitions_count": 3 })).await;
    let task = refused_by_the_broker(&app, &reply, &cluster, "topic.partitions").await;
    assert_eq!(task["subject"], "grow");
    assert_eq!(task["payload"]["partitionCount"], 3);
    assert_eq!(kafka.partitions_of("grow").await, Some(2));
    let got = app.get(&path).await.expect(200);
    assert_eq!(got["partitions_count"], 2, "{got}");
}

ferry_tests::both_backends!(partition_count_increase);

#[tokio::test]
async fn project_tokens_reach_acls_within_their_prefix() {
    let kafka = TestKafka::start().await;
    let app = TestApp::spawn(Backend::Sqlite).await;
    let cluster = add_cluster(&app, &kafka).await;
    app.post(
        "/api/v1/projects",
        &json!({ "id": "teama", "name": "Team A", "description": "test" }),
    )
    .await
    .expect(201);
    app.put(
        &format!("/api/v1/projects/teama/grants/{cluster}"),
        &json!({ "topicPrefix": "teama." }),
    )
    .await
    .expect(200);
    let token = |role: &'static str| {
        let app = &app;
        async move {
            app.post(
                "/api/v1/projects/teama/tokens",
                &json!({ "name": format!("teama-{role}"), "role": role }),
            )
            .await
            .expect(201)["token"]
                .as_str()
                .expect("a token")
                .to_owned()
        }
    };
    let client = token("CLIENT").await;
    let viewer = token("VIEWER").await;
    let acls = v3(&cluster, "/acls");

    // Within the prefix: recorded as the project's task, which reaches the
    // broker (201, or tansu's answer refused as in `acls_through_v3`).
    let own = app
        .send(
            Method::POST,
            &acls,
            Some(&client),
            Some(&acl("teama.orders")),
        )
        .await;
    assert!(matches!(own.status.as_u16(), 201 | 202 | 409), "{own}");
    let creates = tasks_of(&app, &cluster, "acl.create").await;
    assert_eq!(creates.len(), 1);
    assert_eq!(creates[0]["projectId"], "teama", "{creates:?}");

    // Beyond it, or about the whole cluster: 403, and nothing recorded.
    let mut wildcard = acl("*");
    wildcard["pattern_type"] = json!("LITERAL");
    let mut shorter = acl("team");
    shorter["pattern_type"] = json!("PREFIXED");
    let mut on_cluster = acl("kafka-cluster");
    on_cluster["resource_type"] = json!("CLUSTER");
    on_cluster["operation"] = json!("ALTER");
    for body in [acl("teamb.orders"), wildcard, shorter, on_cluster] {
        let reply = app
            .send(Method::POST, &acls, Some(&client), Some(&body))
            .await;
        expect_error(&reply, 403, 403);
    }
    let reply = app
        .send(
            Method::POST,
            &acls,
            Some(&viewer),
            Some(&acl("teama.orders")),
        )
        .await;
    expect_error(&reply, 403, 403);
    assert_eq!(tasks_of(&app, &cluster, "acl.create").await.len(), 1);

    // A delete must name the project's ACLs exactly.
    for query in [
        "resource_type=ANY&pattern_type=LITERAL&resource_name=teama.orders&operation=ANY&permission=ANY",
        "resource_type=TOPIC&pattern_type=MATCH&resource_name=teama.orders&operation=ANY&permission=ANY",
        "resource_type=TOPIC&pattern_type=LITERAL&resource_name=teamb.orders&operation=ANY&permission=ANY",
        "resource_type=TOPIC&pattern_type=PREFIXED&operation=ANY&permission=ANY",
    ] {
        let reply = app
            .send(
                Method::DELETE,
                &format!("{acls}?{query}"),
                Some(&client),
                None,
            )
            .await;
        expect_error(&reply, 403, 403);
    }
    assert!(tasks_of(&app, &cluster, "acl.delete").await.is_empty());

    // The project's viewer searches; an unreached cluster does not exist.
    let listed = app.send(Method::GET, &acls, Some(&viewer), None).await;
    assert!(list_data(&listed.expect(200), "KafkaAclList").is_empty());
    let other = app
        .post("/api/v1/clusters", &kafka.registration("not-granted"))
        .await
        .expect(201)["id"]
        .as_str()
        .expect("cluster id")
        .to_owned();
    let reply = app
        .send(Method::GET, &v3(&other, "/acls"), Some(&viewer), None)
        .await;
    expect_error(&reply, 404, 404);
}
