//! The DigitalOcean dialect, driven by DigitalOcean's official Python
//! client (`pydo`) and by raw HTTP for what pydo does not send.

use std::process::Command;

use ferry_tests::python;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::world;

/// Runs tests/python/pydo_topics.py against ferry; returns its JSON report.
fn run_pydo(endpoint: &str, token: &str, uuid: &str, topic: &str) -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/python/pydo_topics.py");
    let output = Command::new(python::interpreter())
        .arg(script)
        .args([endpoint, token, uuid, topic])
        .output()
        .expect("the Python interpreter runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "pydo_topics.py failed: {}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

#[tokio::test]
async fn pydo_creates_lists_reads_updates_and_deletes_topics() {
    let w = world().await;
    let report = run_pydo(&w.app.url(""), &w.shop.admin, &w.uuid, "shop.orders");

    let created = &report["create"]["ok"]["topic"];
    assert_eq!(created["name"], "shop.orders", "{report}");
    assert_eq!(created["state"], "active", "{report}");
    assert_eq!(created["partitions"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        created["config"]["cleanup_policy"], "compact_delete",
        "{report}"
    );
    assert_eq!(created["config"]["retention_ms"], 3600000);
    assert_eq!(
        created["config"]["message_timestamp_type"],
        "log_append_time"
    );
    // Each change was a task of its own, and each succeeded.
    let tasks = w
        .app
        .get(&format!(
            "/api/v1/tasks?clusterId={}&pageSize=50",
            w.cluster
        ))
        .await
        .expect(200);
    let mut kinds: Vec<(String, String)> = tasks["data"]
        .as_array()
        .expect("tasks")
        .iter()
        .map(|t| {
            (
                t["kind"].as_str().unwrap().to_owned(),
                t["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    kinds.sort();
    let succeeded = |k: &str| (k.to_owned(), "succeeded".to_owned());
    assert_eq!(
        kinds,
        vec![
            succeeded("topic.config"),
            succeeded("topic.create"),
            succeeded("topic.delete")
        ],
        "{tasks}"
    );

    let listed = report["list"]["ok"]["topics"].as_array().expect("topics");
    assert_eq!(
        listed,
        &vec![
            json!({ "name": "shop.orders", "state": "active", "replication_factor": listed[0]["replication_factor"], "partition_count": 2 })
        ],
        "{report}"
    );

    let got = &report["get"]["ok"]["topic"];
    let partition = &got["partitions"][0];
    for field in ["id", "size", "in_sync_replicas", "earliest_offset"] {
        assert!(partition[field].is_i64(), "{field}: {report}");
    }
    assert!(partition["consumer_groups"].is_null(), "{report}");

    let updated = &report["update"]["ok"]["topic"];
    assert_eq!(updated["config"]["retention_ms"], 7200000, "{report}");
    assert_eq!(updated["config"]["cleanup_policy"], "compact_delete");

    // pydo raises on 422; the body is DigitalOcean's error naming the key.
    assert_eq!(report["invalid"]["error"], 422, "{report}");
    assert_eq!(report["invalid"]["body"]["id"], "unprocessable_entity");
    assert!(
        report["invalid"]["body"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("/config/cleanup_policy")),
        "{report}"
    );
    // pydo returns a 404's body rather than raising.
    assert_eq!(report["missing"]["ok"]["id"], "not_found", "{report}");
    assert!(
        report["missing"]["ok"]["request_id"].is_string(),
        "{report}"
    );

    assert!(report["delete"]["ok"].is_null(), "{report}");
    assert_eq!(
        report["after_delete"]["ok"]["topics"],
        json!([]),
        "{report}"
    );
    assert_eq!(w.kafka.partitions_of("shop.orders").await, None);
}

#[tokio::test]
async fn refusals_use_digitaloceans_envelope_and_change_nothing() {
    let w = world().await;
    let app = &w.app;
    let base = format!("/v2/databases/{}/topics", w.uuid);
    let create = json!({ "name": "shop.t", "partition_count": 1, "replication_factor": 1 });

    // No token.
    let anonymous = app.send(Method::GET, &base, None, None).await;
    assert_eq!(anonymous.status.as_u16(), 401, "{anonymous}");
    assert_eq!(anonymous.json()["id"], "unauthorized");
    assert_eq!(anonymous.json()["message"], "Unable to authenticate you.");
    // An unknown cluster, and one that is not a UUID.
    for path in [
        "/v2/databases/00000000-0000-4000-8000-000000000000/topics".to_owned(),
        "/v2/databases/not-a-uuid/topics".to_owned(),
    ] {
        let missing = app.get(&path).await;
        assert_eq!(missing.status.as_u16(), 404, "{missing}");
        assert_eq!(missing.json()["id"], "not_found");
    }
    // A viewer may not create; another project may not name shop's topics.
    let viewer = app
        .send(Method::POST, &base, Some(&w.shop.viewer), Some(&create))
        .await;
    assert_eq!(viewer.status.as_u16(), 403, "{viewer}");
    assert_eq!(viewer.json()["id"], "forbidden");
    let outside = app
        .send(Method::POST, &base, Some(&w.other.admin), Some(&create))
        .await;
    assert_eq!(outside.status.as_u16(), 403, "{outside}");
    // Bad values name their field: 400 for a field missing (the body's
    // shape), 422 for a value breaking its rule.
    for (body, field) in [
        (json!({ "partition_count": 1 }), "\"name\""),
        (
            json!({ "name": "shop.x", "partition_count": 0 }),
            "partition_count",
        ),
        (
            json!({ "name": "shop.x", "replication_factor": 33 }),
            "replication_factor",
        ),
        (
            json!({ "name": "shop.x", "config": { "message_timestamp_type": "now" } }),
            "/config/message_timestamp_type",
        ),
        (
            json!({ "name": "shop.x", "config": { "retention_ms": -5 } }),
            "/config/retention_ms",
        ),
    ] {
        let reply = app
            .send(Method::POST, &base, Some(&w.shop.admin), Some(&body))
            .await;
        let (status, id) = if body.get("name").is_none() {
            (400, "bad_request")
        } else {
            (422, "unprocessable_entity")
        };
        assert_eq!(reply.status.as_u16(), status, "{reply}");
        assert_eq!(reply.json()["id"], id);
        assert!(
            reply.json()["message"]
                .as_str()
                .unwrap_or_default()
                .contains(field),
            "{field}: {reply}"
        );
    }
    let typed = app
        .send(
            Method::POST,
            &base,
            Some(&w.shop.admin),
            Some(&json!({ "name": "shop.x", "partition_count": "many" })),
        )
        .await;
    assert_eq!(typed.status.as_u16(), 400, "{typed}");
    assert_eq!(typed.json()["id"], "bad_request");
    let shop_topics: Vec<String> = w
        .kafka
        .topics()
        .await
        .into_iter()
        .map(|(n, _)| n)
        .filter(|n| n.starts_with("shop."))
        .collect();
    assert!(shop_topics.is_empty(), "{shop_topics:?}");

    // Updates: fewer partitions and a new replication factor are refused;
    // more partitions reach the broker, whose answer reaches the caller.
    let created = app
        .send(Method::POST, &base, Some(&w.shop.admin), Some(&create))
        .await;
    assert_eq!(created.status.as_u16(), 201, "{created}");
    let topic = format!("{base}/shop.t");
    let fewer = app
        .send(
            Method::PUT,
            &topic,
            Some(&w.shop.admin),
            Some(&json!({ "partition_count": 0 })),
        )
        .await;
    assert_eq!(fewer.status.as_u16(), 422, "{fewer}");
    assert!(
        fewer.json()["message"]
            .as_str()
            .unwrap_or_default()
            .contains("/partition_count")
    );
    let more = app
        .send(
            Method::PUT,
            &topic,
            Some(&w.shop.admin),
            Some(&json!({ "partition_count": 4 })),
        )
        .await;
    let partitions = if more.status.as_u16() == 200 {
        4
    } else {
        assert_eq!(more.status.as_u16(), 422, "{more}");
        assert!(
            more.json()["message"]
                .as_str()
                .unwrap_or_default()
                .contains("task"),
            "{more}"
        );
        1
    };
    assert_eq!(w.kafka.partitions_of("shop.t").await, Some(partitions));
    // Another project cannot see the topic at all.
    let hidden = app
        .send(Method::GET, &topic, Some(&w.other.admin), None)
        .await;
    assert_eq!(hidden.status.as_u16(), 404, "{hidden}");
    let gone = app
        .send(Method::DELETE, &topic, Some(&w.other.admin), None)
        .await;
    assert_eq!(gone.status.as_u16(), 404, "{gone}");
    assert_eq!(w.kafka.partitions_of("shop.t").await, Some(partitions));
}
