//! The REST Proxy's schema formats (v2's `avro`, `jsonschema`, `protobuf`,
//! v3's `AVRO`, `JSONSCHEMA`, `PROTOBUF`) through a cluster's schema registry (the tests' stand-in, see
//! `ferry_tests::schema_registry` for why): the seed's requests answered
//! with schema ids, the bytes on the broker in Confluent's wire format,
//! what ferry writes decoded by confluent-kafka's deserializers, what
//! confluent-kafka's serializer writes read by ferry's consumers, and the
//! refusals with the seed's codes.

use std::{process::Command, time::Duration};

use ferry_tests::{Backend, TestApp, kafka::TestKafka, python, schema_registry::SchemaRegistry};
use reqwest::Method;
use serde_json::{Value, json};

use crate::{
    helpers::*,
    v2::{V2, call, expect_v2, expect_v2_error},
    v2_consumers::{read_records, send},
};

const AVRO: &str = "application/vnd.kafka.avro.v2+json";
const JSON_SCHEMA: &str = "application/vnd.kafka.jsonschema.v2+json";
const PROTOBUF: &str = "application/vnd.kafka.protobuf.v2+json";
const LOGIN: (&str, &str) = ("registry-user", "registry-secret-4711");

const USER_SCHEMA: &str = r#"{"type":"record","name":"User","namespace":"shop","fields":[
    {"name":"id","type":"long"},{"name":"name","type":"string"},
    {"name":"email","type":["null","string"],"default":null}]}"#;

async fn produce(app: &TestApp, path: &str, content_type: &str, body: &str) -> Value {
    let reply = call(app, Method::POST, path, Some(content_type), V2, Some(body)).await;
    expect_v2(&reply, 200)
}

/// Runs tests/python/schema_formats.py; returns what it printed. It runs
/// off the test's runtime, which serves the registry it calls.
async fn python_client(args: &[&str]) -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/python/schema_formats.py");
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python::interpreter())
            .arg(script)
            .args(&args)
            .output()
    })
    .await
    .expect("the client's thread")
    .expect("the Python interpreter runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "schema_formats.py failed: {}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// The five-byte header of Confluent's wire format.
fn header(id: i64) -> Vec<u8> {
    let mut out = vec![0];
    out.extend_from_slice(&(id as i32).to_be_bytes());
    out
}

async fn schema_formats_go_through_the_registry(backend: Backend) {
    let kafka = TestKafka::start().await;
    let registry = SchemaRegistry::start_with_login(LOGIN.0, LOGIN.1).await;
    let app = TestApp::spawn(backend).await;
    let cluster = add_cluster(&app, &kafka).await;
    for (topic, partitions) in [("test", 3), ("users", 1), ("shop", 1), ("python", 1)] {
        kafka.create_topic(topic, partitions).await;
    }

    // The registry is a setting of the cluster: its password is stored
    // encrypted and never shown.
    let set = json!({"schemaRegistry": {"url": registry.url, "username": LOGIN.0,
        "password": LOGIN.1}});
    let reply = app.put(&format!("/api/v1/clusters/{cluster}"), &set).await;
    let view = reply.expect(200);
    assert_eq!(
        view["schemaRegistry"]["url"],
        registry.url.as_str(),
        "{view}"
    );
    assert_eq!(view["schemaRegistry"]["password"], "******", "{view}");
    assert_eq!(view["schemaRegistry"]["passwordSet"], true, "{view}");
    assert!(!reply.text.contains(LOGIN.1), "{reply}");
    let bad = app
        .put(
            &format!("/api/v1/clusters/{cluster}"),
            &json!({"schemaRegistry": {"url": "http://user:pw@registry:8081"}}),
        )
        .await;
    assert_eq!(bad.status.as_u16(), 400, "{bad}");
    assert!(bad.text.contains("schemaRegistry/url"), "{bad}");

    // The seed's Avro request, verbatim: the schema is registered under
    // test-value and its id answered; the bytes are Confluent's.
    let avro = r#"{
  "value_schema": "{\"name\":\"int\",\"type\": \"int\"}",
  "records": [
    {
      "value": 12
    },
    {
      "value": 24,
      "partition": 1
    }
  ]
}"#;
    let answer = produce(&app, "/topics/test", AVRO, avro).await;
    let int_id = answer["value_schema_id"].as_i64().expect("an id");
    assert!(answer["key_schema_id"].is_null(), "{answer}");
    assert_eq!(answer["offsets"][1]["partition"], 1, "{answer}");
    // The same schema by id: no registration, and the id is cached.
    let calls = registry.calls();
    let by_id = json!({"value_schema_id": int_id, "records": [{"value": 36, "partition": 2}]});
    let answer = produce(&app, "/topics/test", AVRO, &by_id.to_string()).await;
    assert_eq!(answer["value_schema_id"], int_id, "{answer}");
    produce(&app, "/topics/test", AVRO, avro).await;
    assert_eq!(registry.calls(), calls, "schemas and ids are cached");

    // The seed's Protobuf and JSON Schema requests.
    let protobuf = r#"{
  "value_schema": "syntax=\"proto3\"; message Foo { string f1 = 1; }",
  "records": [{"value": {"f1": "foo"}}]
}"#;
    let answer = produce(&app, "/topics/test/partitions/0", PROTOBUF, protobuf).await;
    let proto_id = answer["value_schema_id"].as_i64().expect("an id");
    let jsonschema = r#"{
  "value_schema": "{\"type\":\"object\",\"properties\":{\"f1\":{\"type\":\"string\"}}}",
  "records": [{"value": {"f1": "bar"}}]
}"#;
    let answer = produce(&app, "/topics/shop/partitions/0", JSON_SCHEMA, jsonschema).await;
    let json_id = answer["value_schema_id"].as_i64().expect("an id");
    assert!(
        int_id != proto_id && proto_id != json_id,
        "ids are per schema"
    );

    let on_broker = kafka.consume_all("test", 5, Duration::from_secs(20)).await;
    let with = |bytes: &[u8], id: i64| [header(id), bytes.to_vec()].concat();
    for expected in [
        with(&[24], int_id),
        with(&[48], int_id),
        with(&[72], int_id),
        with(&[0, 0x0a, 3, b'f', b'o', b'o'], proto_id),
    ] {
        assert!(
            on_broker.iter().any(|r| r.value == expected),
            "{expected:?} is not among {on_broker:?}"
        );
    }

    // Keys and values of a record schema; a union's branch is named, as in
    // Avro's JSON encoding, or taken bare when only one branch fits.
    let users = json!({
        "key_schema": "\"string\"",
        "value_schema": USER_SCHEMA,
        "records": [
            {"key": "u1", "value": {"id": 1, "name": "Bill", "email": {"string": "bill@x"}}},
            {"key": "u2", "value": {"id": 2, "name": "Melinda", "email": "m@x"}},
            {"key": "u3", "value": {"id": 3, "name": "Anon"}},
        ]
    });
    let answer = produce(&app, "/topics/users", AVRO, &users.to_string()).await;
    assert!(answer["key_schema_id"].is_i64(), "{answer}");
    let user_id = answer["value_schema_id"].as_i64().expect("an id");

    // confluent-kafka's deserializers read what ferry wrote.
    let bootstrap = kafka.bootstrap();
    let read = python_client(&[
        "read",
        &bootstrap,
        &registry.url,
        LOGIN.0,
        LOGIN.1,
        "users",
        "avro",
        "3",
    ])
    .await;
    assert_eq!(
        read,
        json!([
            {"key": "u1", "value": {"id": 1, "name": "Bill", "email": "bill@x"}},
            {"key": "u2", "value": {"id": 2, "name": "Melinda", "email": "m@x"}},
            {"key": "u3", "value": {"id": 3, "name": "Anon", "email": null}},
        ])
    );
    let read = python_client(&[
        "read",
        &bootstrap,
        &registry.url,
        LOGIN.0,
        LOGIN.1,
        "shop",
        "json",
        "1",
    ])
    .await;
    assert_eq!(read, json!([{"key": null, "value": {"f1": "bar"}}]));

    // ferry's consumers read them back, in each format's content type.
    let users_read = consume(&app, "avro-readers", "avro", "users", AVRO, 3).await;
    assert_eq!(users_read[0]["key"], "u1");
    assert_eq!(
        users_read[1]["value"],
        json!({"id": 2, "name": "Melinda", "email": {"string": "m@x"}})
    );
    assert_eq!(users_read[2]["value"]["email"], Value::Null);
    let shop_read = consume(&app, "json-readers", "jsonschema", "shop", JSON_SCHEMA, 1).await;
    assert_eq!(shop_read[0]["value"], json!({"f1": "bar"}));

    // What confluent-kafka's serializer writes (registering its schema),
    // ferry reads.
    python_client(&[
        "write",
        &bootstrap,
        &registry.url,
        LOGIN.0,
        LOGIN.1,
        "python",
        USER_SCHEMA,
        r#"[{"id": 10, "name": "Py", "email": "py@x"}, {"id": 11, "name": "Thon", "email": null}]"#,
    ])
    .await;
    let python_read = consume(&app, "py-readers", "avro", "python", AVRO, 2).await;
    assert_eq!(
        python_read[0]["value"],
        json!({"id": 10, "name": "Py", "email": {"string": "py@x"}})
    );
    assert_eq!(python_read[1]["value"]["email"], Value::Null);

    v3_schema_types(&app, &cluster, &registry, user_id).await;

    // Refusals, with the seed's codes.
    let refused = |body: Value| {
        let app = &app;
        async move {
            call(
                app,
                Method::POST,
                "/topics/users",
                Some(AVRO),
                V2,
                Some(&body.to_string()),
            )
            .await
        }
    };
    let reply =
        refused(json!({"value_schema": "{\"type\":\"nope\"}", "records": [{"value": 1}]})).await;
    assert!(expect_v2_error(&reply, 422, 42205).contains("invalid schema"));
    let reply = refused(json!({"value_schema": USER_SCHEMA,
        "records": [{"value": {"id": 1, "name": "ok"}}, {"value": {"id": "one", "name": "x"}}]}))
    .await;
    let message = expect_v2_error(&reply, 422, 42205);
    assert!(
        message.contains("records[1].value") && message.contains("$.id"),
        "{message}"
    );
    let reply = refused(json!({"value_schema_id": 9999, "records": [{"value": 1}]})).await;
    assert!(expect_v2_error(&reply, 408, 40801).contains("9999"));
    let reply = refused(json!({"value_schema_id": proto_id, "records": [{"value": 1}]})).await;
    expect_v2_error(&reply, 422, 42205);
    let reply =
        refused(json!({"records": [{"key": "k", "value": 1}], "value_schema_id": int_id})).await;
    expect_v2_error(&reply, 422, 42201);

    // A registry that refuses ferry's login: 40801 with its answer, and no
    // password in it.
    let wrong = json!({"schemaRegistry": {"url": registry.url, "username": LOGIN.0,
        "password": "not-the-password"}});
    app.put(&format!("/api/v1/clusters/{cluster}"), &wrong)
        .await
        .expect(200);
    let reply = refused(json!({"value_schema": "\"long\"", "records": [{"value": 1}]})).await;
    let message = expect_v2_error(&reply, 408, 40801);
    assert!(
        message.contains("401") && !message.contains("not-the-password"),
        "{message}"
    );

    // A record not in the wire format fails the read, naming where it is,
    // and is not skipped: the next read meets it again.
    kafka
        .produce("python", "plain text")
        .await
        .expect("produced");
    app.put(&format!("/api/v1/clusters/{cluster}"), &set)
        .await
        .expect(200);
    let instance = "/consumers/py-readers/instances/reader";
    for _ in 0..2 {
        let mut failed = None;
        for _ in 0..20 {
            let reply = send(
                &app,
                &app.address,
                Method::GET,
                &format!("{instance}/records?timeout=1000"),
                AVRO,
                None,
            )
            .await;
            if reply.status.as_u16() != 200 {
                failed = Some(reply);
                break;
            }
        }
        let reply = failed.expect("the plain record fails the read");
        let message = expect_v2_error(&reply, 502, 50002);
        assert!(message.contains("topic 'python' partition 0"), "{message}");
    }

    // Without a registry, the formats are refused with 40801.
    app.put(
        &format!("/api/v1/clusters/{cluster}"),
        &json!({"schemaRegistry": {"url": ""}}),
    )
    .await
    .expect(200);
    let reply = refused(json!({"value_schema": "\"long\"", "records": [{"value": 1}]})).await;
    assert!(expect_v2_error(&reply, 408, 40801).contains("schemaRegistry"));
    let reply = send(
        &app,
        &app.address,
        Method::POST,
        "/consumers/late",
        V2,
        Some(json!({"name": "x", "format": "protobuf"})),
    )
    .await;
    expect_v2_error(&reply, 408, 40801);
}

/// v3's schema types: by id, in full, by the subject's latest version, by
/// a record-name subject; and their refusals.
async fn v3_schema_types(app: &TestApp, cluster: &str, registry: &SchemaRegistry, user_id: i64) {
    let path = v3(cluster, "/topics/users/records");
    let by_id = json!({
        "key": {"type": "AVRO", "schema": "\"string\"", "data": "u4"},
        "value": {"type": "AVRO", "schema_id": user_id, "data": {"id": 4, "name": "Four"}},
    });
    let report = app.post(&path, &by_id).await.expect(200);
    assert_eq!(report["value"]["type"], "AVRO", "{report}");
    assert_eq!(report["value"]["schema_id"], user_id, "{report}");
    assert!(report["key"]["schema_id"].is_i64(), "{report}");
    // No schema named: the subject's latest version, its type the
    // registry's.
    let latest = json!({"value": {"data": {"id": 5, "name": "Latest"}, "subject": "users-value"}});
    let report = app.post(&path, &latest).await.expect(200);
    assert_eq!(report["value"]["type"], "AVRO", "{report}");
    assert_eq!(report["value"]["schema_id"], user_id, "{report}");
    assert_eq!(report["value"]["schema_version"], 1, "{report}");
    // A record-name subject, from the JSON Schema's title.
    let titled = json!({"value": {"type": "JSONSCHEMA", "subject_name_strategy": "RECORD_NAME",
        "schema": r#"{"title":"Order","type":"object","required":["n"]}"#, "data": {"n": 1}}});
    let report = app
        .post(&v3(cluster, "/topics/shop/records"), &titled)
        .await
        .expect(200);
    assert_eq!(report["value"]["type"], "JSONSCHEMA", "{report}");
    let subjects = app
        .client
        .get(format!("{}/subjects", registry.url))
        .basic_auth(LOGIN.0, Some(LOGIN.1))
        .send()
        .await
        .expect("the registry answers")
        .json::<Value>()
        .await
        .expect("a list");
    for subject in [
        "Order",
        "users-key",
        "users-value",
        "test-value",
        "shop-value",
    ] {
        assert!(
            subjects
                .as_array()
                .is_some_and(|s| s.contains(&json!(subject))),
            "{subjects}"
        );
    }

    // Read back by ferry, as v2 writes them.
    let read = consume(app, "v3-readers", "avro", "users", AVRO, 5).await;
    assert_eq!(read[3]["key"], "u4");
    assert_eq!(
        read[4]["value"],
        json!({"id": 5, "name": "Latest", "email": null})
    );

    for (bad, says) in [
        (
            json!({"value": {"type": "BINARY", "schema_id": user_id, "data": "AA=="}}),
            "apply to",
        ),
        (
            json!({"value": {"type": "PROTOBUF", "schema_id": user_id, "data": {}}}),
            "is AVRO",
        ),
        (
            json!({"value": {"schema_id": user_id, "data": {"id": "x", "name": "y"}}}),
            "$.id",
        ),
        (
            json!({"value": {"schema": "\"long\"", "data": 1}}),
            "needs its type",
        ),
        (
            json!({"value": {"subject": "nothing-here", "data": 1}}),
            "404",
        ),
        (
            json!({"value": {"type": "AVRO", "subject_name_strategy": "RECORD_NAME",
            "schema_version": 1, "data": 1}}),
            "record",
        ),
    ] {
        let reply = app.post(&path, &bad).await;
        assert!(
            expect_error(&reply, 422, 422).contains(says),
            "{says}: {reply}"
        );
    }
}

/// Creates an instance of `format` in `group`, subscribes it to `topic` and
/// reads `count` records under `accept`.
async fn consume(
    app: &TestApp,
    group: &str,
    format: &str,
    topic: &str,
    accept: &str,
    count: usize,
) -> Vec<Value> {
    let create = json!({"name": "reader", "format": format, "auto.offset.reset": "earliest"});
    let reply = send(
        app,
        &app.address,
        Method::POST,
        &format!("/consumers/{group}"),
        V2,
        Some(create),
    )
    .await;
    expect_v2(&reply, 200);
    let instance = format!("/consumers/{group}/instances/reader");
    send(
        app,
        &app.address,
        Method::POST,
        &format!("{instance}/subscription"),
        V2,
        Some(json!({"topics": [topic]})),
    )
    .await
    .expect(204);
    let records = read_records(
        app,
        &app.address,
        &instance,
        accept,
        count,
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(records.len(), count, "{records:?}");
    records
}

ferry_tests::both_backends!(schema_formats_go_through_the_registry);
