//! Every operation of `/openapi.json`, called with project A's VIEWER,
//! CLIENT and ADMIN tokens on project B's resources, and with A's VIEWER on
//! A's own mutations: each is refused (403, 404, or the dialect's "no such"
//! answer) or, for a list, shows nothing of B's; and nothing changes. An
//! operation without a rule here fails the test, so a new route cannot ship
//! without saying who may call it.

use ferry_tests::{Backend, TestApp};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{World, broker_topics, call, world};

/// What A's tokens must get from an operation aimed at B.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    /// 403 or 404 (or the dialect's own "no such" answer).
    Refused,
    /// Also 400 "no such cluster": the operation names B's cluster in its
    /// body, which does not exist for A.
    RefusedOrUnknown,
    /// A list: allowed, but nothing of B's in it.
    Hidden,
}

/// The rule for an operation: its query, its body, what A gets, and
/// whether it changes anything (for the VIEWER round).
struct Rule {
    query: &'static str,
    body: Option<Value>,
    expect: Expect,
    mutates: bool,
}

fn rule(w: &World, method: &str, path: &str) -> Option<Rule> {
    use Expect::*;
    let r = |query, body: Option<Value>, expect, mutates| {
        Some(Rule {
            query,
            body,
            expect,
            mutates,
        })
    };
    let config = json!({ "value": "1" });
    let alter = json!({ "data": [{ "name": "retention.ms", "value": "1" }] });
    let eq_topic = json!({ "topic": {
        "topicName": "new", "partitionCount": 1, "maxRetentionTimeMs": 3600000,
        "maxRetentionBytes": 1073741824_i64, "maxMessageBytes": 1024,
    }});
    match (method, path) {
        // Native.
        ("get", "/api/v1/clusters" | "/api/v1/tasks" | "/api/v1/audit" | "/api/v1/projects") => {
            r("", None, Hidden, false)
        }
        // The caller's own token: nothing of B's is in it.
        ("get", "/api/v1/session") => r("", None, Hidden, false),
        ("post", "/api/v1/clusters") => r("", Some(w.kafka.registration("x")), Refused, true),
        ("get", "/api/v1/clusters/{id}") => r("", None, Refused, false),
        ("put", "/api/v1/clusters/{id}") => r("", Some(json!({ "name": "x" })), Refused, true),
        ("delete", "/api/v1/clusters/{id}") => r("", None, Refused, true),
        ("get", "/api/v1/clusters/{id}/statistics") => r(
            "metricsType=MESSAGE_COUNT&topicName=teamb.orders",
            None,
            Refused,
            false,
        ),
        ("get", "/api/v1/tasks/{id}") => r("", None, Refused, false),
        ("post", "/api/v1/tasks") => r(
            "",
            Some(json!({ "kind": "ping", "clusterId": w.b_only })),
            RefusedOrUnknown,
            true,
        ),
        ("post", "/api/v1/tasks/{id}/cancel") => r("", None, Refused, true),
        ("get", "/api/v1/tokens") => r("", None, Refused, false),
        ("post", "/api/v1/tokens") => r(
            "",
            Some(json!({ "name": "x", "role": "admin" })),
            Refused,
            true,
        ),
        ("delete", "/api/v1/tokens/{id}") => r("", None, Refused, true),
        ("post", "/api/v1/projects") => {
            r("", Some(json!({ "id": "x", "name": "x" })), Refused, true)
        }
        (
            "get",
            "/api/v1/projects/{id}"
            | "/api/v1/projects/{id}/tokens"
            | "/api/v1/projects/{id}/grants"
            | "/api/v1/projects/{id}/grants/{cluster_id}",
        ) => r("", None, Refused, false),
        ("put", "/api/v1/projects/{id}") => r("", Some(json!({ "name": "x" })), Refused, true),
        (
            "delete",
            "/api/v1/projects/{id}"
            | "/api/v1/projects/{id}/tokens/{token_id}"
            | "/api/v1/projects/{id}/grants/{cluster_id}",
        ) => r("", None, Refused, true),
        ("post", "/api/v1/projects/{id}/tokens") => r(
            "",
            Some(json!({ "name": "x", "role": "ADMIN" })),
            Refused,
            true,
        ),
        ("put", "/api/v1/projects/{id}/grants/{cluster_id}") => {
            r("", Some(json!({ "topicPrefix": null })), Refused, true)
        }
        // Changesets: B's are not A's to see or move; planning on B's
        // cluster is refused.
        ("get", "/api/v1/changesets") => r("", None, Hidden, false),
        ("post", "/api/v1/changesets") => r(
            "mode=plan",
            Some(
                json!({ "cluster": w.b_only.parse::<i64>().unwrap(), "name": "x", "topics": [{ "name": "teamb.x" }] }),
            ),
            RefusedOrUnknown,
            true,
        ),
        ("get", "/api/v1/changesets/{id}") => r("", None, Refused, false),
        (
            "post",
            "/api/v1/changesets/{id}/apply"
            | "/api/v1/changesets/{id}/approve"
            | "/api/v1/changesets/{id}/resume"
            | "/api/v1/changesets/{id}/drift",
        ) => r("", None, Refused, true),
        ("patch", "/api/v1/changesets/{id}") => {
            r("", Some(json!({ "watch": false })), Refused, true)
        }
        // TiEM.
        ("get", "/api/v1/changefeeds") => r("", None, Hidden, false),
        ("post", "/api/v1/changefeeds") => r(
            "",
            Some(
                json!({ "name": "x", "clusterId": w.mysql, "downstreamType": "mysql", "downstream": { "targetClusterId": w.mysql } }),
            ),
            RefusedOrUnknown,
            true,
        ),
        ("get", "/api/v1/changefeeds/{id}") => r("", None, Refused, false),
        ("post", "/api/v1/changefeeds/{id}/pause" | "/api/v1/changefeeds/{id}/resume") => {
            r("", None, Refused, true)
        }
        ("post", "/api/v1/changefeeds/{id}/update") => {
            r("", Some(json!({ "name": "renamed" })), Refused, true)
        }
        ("delete", "/api/v1/changefeeds/{id}") => r("", None, Refused, true),
        // TubeMQ.
        ("get", "/v1/cluster") => r("clusterId=B_ONLY", None, Refused, false),
        ("post", "/v1/cluster") => r(
            "method=delete",
            Some(json!({ "clusterId": w.b_only, "user": "u" })),
            Refused,
            true,
        ),
        ("post", "/v1/task") => r(
            "method=addTopicTask",
            Some(
                json!({ "clusterId": w.shared, "user": "u", "addTopicTasks": [{ "topicName": "teamb.new" }] }),
            ),
            Refused,
            true,
        ),
        ("post", "/v1/topic") => r(
            "method=queryCanWrite",
            Some(json!({ "clusterId": w.shared, "user": "u", "topicName": "teamb.orders" })),
            Refused,
            false,
        ),
        // Confluent v3.
        ("get", "/v3/clusters") => r("", None, Hidden, false),
        ("post", "/v3/clusters/{cluster_id}/topics") => r(
            "",
            Some(json!({ "topic_name": "teamb.new", "partitions_count": 1 })),
            Refused,
            true,
        ),
        ("delete", "/v3/clusters/{cluster_id}/topics/{topic_name}") => r("", None, Refused, true),
        // Broker removal and reassignments need a global admin.
        ("delete", "/v3/clusters/{cluster_id}/brokers/{broker_id}") => r("", None, Refused, true),
        ("post", "/api/v1/clusters/{id}/reassignments") => r(
            "",
            Some(
                json!({ "partitions": [{ "topic": "teamb.orders", "partition": 0, "replicas": [1] }] }),
            ),
            Refused,
            true,
        ),
        ("patch", "/v3/clusters/{cluster_id}/topics/{topic_name}") => {
            r("", Some(json!({ "partitions_count": 2 })), Refused, true)
        }
        ("post", "/v3/clusters/{cluster_id}/acls") => r(
            "",
            Some(json!({
                "resource_type": "TOPIC", "resource_name": "teamb.orders",
                "pattern_type": "LITERAL", "principal": "User:b", "host": "*",
                "operation": "READ", "permission": "ALLOW",
            })),
            Refused,
            true,
        ),
        ("delete", "/v3/clusters/{cluster_id}/acls") => r(
            "resource_type=TOPIC&resource_name=teamb.orders&pattern_type=LITERAL\
             &operation=ANY&permission=ANY",
            None,
            Refused,
            true,
        ),
        ("put", p) if p.starts_with("/v3/") && p.ends_with("/configs/{name}") => {
            r("", Some(config), Refused, true)
        }
        ("put", "/v3/clusters/{cluster_id}/broker-configs/{name}") => {
            r("", Some(config), Refused, true)
        }
        ("delete", p) if p.starts_with("/v3/") && p.ends_with("{name}") => {
            r("", None, Refused, true)
        }
        ("post", p) if p.starts_with("/v3/") && p.ends_with(":alter") => {
            r("", Some(alter), Refused, true)
        }
        ("get", p) if p.starts_with("/v3/clusters/{cluster_id}") => r("", None, Refused, false),
        ("post", "/v3/clusters/{cluster_id}/topics/{topic_name}/records") => r(
            "",
            Some(json!({ "value": { "type": "STRING", "data": "x" } })),
            Refused,
            true,
        ),
        // Confluent v2: A's tokens act on A's one Kafka cluster, where B's
        // topics do not exist.
        ("get", "/topics" | "/brokers") => r("", None, Hidden, false),
        ("get", p) if p.starts_with("/topics/") => r("", None, Refused, false),
        ("post", "/topics/{topic_name}" | "/topics/{topic_name}/partitions/{partition_id}") => r(
            "",
            Some(json!({ "records": [{ "value": "eA==" }] })),
            Refused,
            true,
        ),
        // Confluent v2 consumers: B's groups do not exist for A's tokens
        // (creating one in them is 403, its instances are 404).
        ("post", "/consumers/{group_name}") => r("", Some(json!({ "name": "x" })), Refused, true),
        ("get", p) if p.starts_with("/consumers/") => r("", None, Refused, false),
        ("delete", p) if p.starts_with("/consumers/") => r("", None, Refused, true),
        ("post", p) if p.starts_with("/consumers/") => {
            let partition = json!({ "topic": "teamb.orders", "partition": 0 });
            let offset = json!({ "topic": "teamb.orders", "partition": 0, "offset": 0 });
            let body = if p.ends_with("/subscription") {
                json!({ "topics": ["teamb.orders"] })
            } else if p.ends_with("/positions") || p.ends_with("/offsets") {
                json!({ "offsets": [offset] })
            } else {
                json!({ "partitions": [partition] })
            };
            r("", Some(body), Refused, true)
        }
        // EasyQueue: B's appKey does not exist for A's tokens.
        ("get", p) if p.starts_with("/v1.0/appkeys/{appKey}/") => r("", None, Refused, false),
        ("post", "/v1.0/appkeys/{appKey}/topics")
        | ("put", "/v1.0/appkeys/{appKey}/topics/{topicName}") => {
            r("", Some(eq_topic), Refused, true)
        }
        ("delete", "/v1.0/appkeys/{appKey}/topics/{topicName}") => r("", None, Refused, true),
        // DigitalOcean: B's cluster and topics do not exist for A's tokens.
        ("get", p) if p.starts_with("/v2/databases/") => r("", None, Refused, false),
        ("post", "/v2/databases/{database_cluster_uuid}/topics") => r(
            "",
            Some(json!({ "name": "teamb.new", "partition_count": 1 })),
            Refused,
            true,
        ),
        ("put", "/v2/databases/{database_cluster_uuid}/topics/{topic_name}") => r(
            "",
            Some(json!({ "config": { "retention_ms": 1 } })),
            Refused,
            true,
        ),
        ("delete", "/v2/databases/{database_cluster_uuid}/topics/{topic_name}") => {
            r("", None, Refused, true)
        }
        _ => None,
    }
}

/// The operation's path with B's resources in it (A's for `own`).
fn fill(w: &World, path: &str, ids: &Ids, own: bool) -> String {
    let names_topic = path.contains("{topic_name}") || path.contains("{consumer_group_id}");
    let cluster = if names_topic || path.starts_with("/api/v1/projects") || own {
        &w.shared
    } else {
        &w.b_only
    };
    let id = if path.starts_with("/api/v1/tasks") {
        if own { &ids.a_task } else { &ids.b_task }
    } else if path.starts_with("/api/v1/changefeeds") {
        &ids.b_changefeed
    } else if path.starts_with("/api/v1/changesets") {
        &ids.b_changeset
    } else if path.starts_with("/api/v1/projects") {
        if own { &w.a.id } else { &w.b.id }
    } else if path.starts_with("/api/v1/tokens") {
        &ids.b_token
    } else {
        cluster
    };
    let prefix = if own { "teama." } else { "teamb." };
    let app_key = if own { &w.a.id } else { &w.b.id };
    path.replace("{cluster_id}", cluster)
        .replace("{database_cluster_uuid}", &ids.uuids[cluster.as_str()])
        .replace("{appKey}", app_key)
        .replace("{topicName}", &format!("{prefix}orders"))
        .replace("{topic_name}", &format!("{prefix}orders"))
        .replace("{consumer_group_id}", &format!("{prefix}group"))
        .replace("{group_name}", &format!("{prefix}group"))
        .replace("{instance}", "instance")
        .replace("{consumer_id}", "consumer-1")
        .replace("{partition_id}", "0")
        .replace("{broker_id}", "1")
        .replace("{name}", "retention.ms")
        .replace("{token_id}", if own { &ids.a_token } else { &ids.b_token })
        .replace("{id}", id)
}

struct Ids {
    /// Each cluster's UUID, by id.
    uuids: std::collections::HashMap<String, String>,
    a_task: String,
    b_task: String,
    b_changefeed: String,
    b_changeset: String,
    a_token: String,
    b_token: String,
}

/// What the test watches for change, read as the global admin.
async fn snapshot(w: &World) -> Value {
    let app = &w.app;
    let mut tasks = app.get("/api/v1/tasks?pageSize=500").await.expect(200)["data"].clone();
    for t in tasks.as_array_mut().unwrap() {
        // Only what a refused call could change.
        *t = json!([t["id"], t["status"], t["kind"]]);
    }
    let feeds = app
        .get("/api/v1/changefeeds/?pageSize=100")
        .await
        .expect(200)["data"]
        .clone();
    let feeds: Vec<Value> = feeds
        .as_array()
        .unwrap()
        .iter()
        .map(|f| json!([f["id"], f["name"], f["downstream"]]))
        .collect();
    json!({
        "clusters": app.get("/api/v1/clusters").await.expect(200),
        "projects": app.get("/api/v1/projects").await.expect(200),
        "grantsA": app.get("/api/v1/projects/proja/grants").await.expect(200),
        "grantsB": app.get("/api/v1/projects/projb/grants").await.expect(200),
        "tokensA": app.get("/api/v1/projects/proja/tokens").await.expect(200),
        "tokensB": app.get("/api/v1/projects/projb/tokens").await.expect(200),
        "tokens": app.get("/api/v1/tokens").await.expect(200),
        "tasks": tasks,
        "changefeeds": feeds,
        "topics": broker_topics(&w.kafka).await,
    })
}

fn refused(reply: &ferry_tests::Reply, expect: Expect) -> bool {
    let status = reply.status.as_u16();
    if matches!(status, 403 | 404) {
        return true;
    }
    if expect == Expect::RefusedOrUnknown && status == 400 {
        return reply.text.contains("no such cluster");
    }
    // TubeMQ answers "no such cluster" and "no such topic" as HTTP 200 with
    // a failed result, exactly as for things that do not exist at all.
    status == 200 && reply.json()["result"] == false && reply.json()["errCode"] != 0
        || easyqueue_refused(reply)
}

/// EasyQueue answers 200 with 403 or 404 in the body's header.
fn easyqueue_refused(reply: &ferry_tests::Reply) -> bool {
    let body = reply.json();
    reply.status.as_u16() == 200
        && body["header"]["isSuccessful"] == false
        && matches!(body["header"]["resultCode"].as_u64(), Some(403 | 404))
}

async fn setup_ids(w: &World) -> Ids {
    let app = &w.app;
    let ping = |token: String| async move {
        let reply = app
            .send(
                Method::POST,
                "/api/v1/tasks",
                Some(&token),
                Some(&json!({ "kind": "ping" })),
            )
            .await
            .expect(202);
        let id = reply["id"].as_str().unwrap().to_owned();
        app.wait_finished(&id).await;
        id
    };
    let a_task = ping(w.a.admin.clone()).await;
    let b_task = ping(w.b.admin.clone()).await;
    call(
        app,
        Method::POST,
        &format!("/v3/clusters/{}/topics", w.shared),
        &w.b.client,
        Some(&json!({ "topic_name": "teamb.orders", "partitions_count": 1, "replication_factor": 1 })),
    )
    .await
    .expect(201);
    call(
        app,
        Method::POST,
        &format!("/v3/clusters/{}/topics", w.shared),
        &w.a.client,
        Some(&json!({ "topic_name": "teama.orders", "partitions_count": 1, "replication_factor": 1 })),
    )
    .await
    .expect(201);
    // B's changefeed: its creation may fail (the system server may keep no
    // binlog); the changefeed is recorded either way, as B's.
    call(
        app,
        Method::POST,
        "/api/v1/changefeeds/",
        &w.b.admin,
        Some(&json!({ "name": "b-feed", "clusterId": w.mysql, "downstreamType": "mysql", "downstream": { "targetClusterId": w.mysql }, "rules": ["shop.*"] })),
    )
    .await;
    let feeds = app.get("/api/v1/changefeeds/").await.expect(200);
    let b_changefeed = feeds["data"][0]["id"]
        .as_str()
        .expect("B's changefeed")
        .to_owned();
    // B's changeset on the shared cluster, planned (nothing applied).
    let b_changeset = call(
        app,
        Method::POST,
        "/api/v1/changesets?mode=plan",
        &w.b.client,
        Some(&json!({ "cluster": w.shared.parse::<i64>().unwrap(), "name": "teamb", "topics": [{ "name": "teamb.orders" }] })),
    )
    .await
    .expect(201)["id"]
        .as_str()
        .expect("B's changeset")
        .to_owned();
    let token_id = |project: &str| {
        let project = project.to_owned();
        async move {
            let list = app
                .get(&format!("/api/v1/projects/{project}/tokens"))
                .await
                .expect(200);
            list["data"][2]["id"].as_str().unwrap().to_owned()
        }
    };
    // Let the creation's task end, so that the snapshot holds still.
    ferry_tests::eventually(
        "tasks to finish",
        std::time::Duration::from_secs(60),
        || async {
            let t = app.get("/api/v1/tasks?status=running").await.expect(200);
            let p = app.get("/api/v1/tasks?status=pending").await.expect(200);
            if t["total"] == 0 && p["total"] == 0 {
                Ok(())
            } else {
                Err(t)
            }
        },
    )
    .await;
    let clusters = app.get("/api/v1/clusters").await.expect(200);
    let uuids = clusters["data"]
        .as_array()
        .expect("clusters")
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_owned(),
                c["uuid"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    Ids {
        uuids,
        a_task,
        b_task,
        b_changefeed,
        b_changeset,
        a_token: token_id("proja").await,
        b_token: token_id("projb").await,
    }
}

fn markers(w: &World, ids: &Ids) -> Vec<String> {
    [
        format!("\"{}\"", w.b.id),
        format!("\"{}\"", w.b_only),
        "\"teamb.orders\"".to_owned(),
        "b-only".to_owned(),
        "b-mysql".to_owned(),
        format!("\"{}\"", ids.b_task),
        format!("\"{}\"", ids.b_changefeed),
        format!("\"{}\"", ids.b_token),
    ]
    .into()
}

async fn project_tokens_reach_nothing_of_other_projects(backend: Backend) {
    let w = world(backend, &[]).await;
    let ids = setup_ids(&w).await;
    let app: &TestApp = &w.app;
    let spec = app.get("/openapi.json").await.expect(200);
    let before = snapshot(&w).await;
    let markers = markers(&w, &ids);
    let mut checked = 0;
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for (method, _) in item.as_object().unwrap() {
            let rule = rule(&w, method, path)
                .unwrap_or_else(|| panic!("no rule for {method} {path}: say who may call it"));
            let verb = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let query = rule.query.replace("B_ONLY", &w.b_only);
            let with_query = |p: String| {
                if query.is_empty() {
                    p
                } else {
                    format!("{p}?{query}")
                }
            };
            let target = with_query(fill(&w, path, &ids, false));
            for role in ["VIEWER", "CLIENT", "ADMIN"] {
                let reply = call(
                    app,
                    verb.clone(),
                    &target,
                    w.a.token(role),
                    rule.body.as_ref(),
                )
                .await;
                match rule.expect {
                    Expect::Hidden if reply.status.is_success() => {
                        for m in &markers {
                            assert!(
                                !reply.text.contains(m.as_str()),
                                "{role} {method} {target} shows {m}: {reply}"
                            );
                        }
                    }
                    expect => assert!(
                        refused(&reply, expect),
                        "{role} of A reached B with {method} {target}: {reply}"
                    ),
                }
                checked += 1;
            }
            if rule.mutates {
                let own = with_query(fill(&w, path, &ids, true));
                let reply = call(app, verb.clone(), &own, &w.a.viewer, rule.body.as_ref()).await;
                assert!(
                    matches!(reply.status.as_u16(), 403 | 404) || easyqueue_refused(&reply),
                    "A's VIEWER changed something with {method} {own}: {reply}"
                );
            }
        }
    }
    assert!(
        checked > 150,
        "only {checked} calls: the spec lost its operations?"
    );
    assert_eq!(
        snapshot(&w).await,
        before,
        "a refused call changed something"
    );
}

ferry_tests::both_backends!(project_tokens_reach_nothing_of_other_projects);
