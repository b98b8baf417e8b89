//! REST Proxy v2: the seed's requests sent verbatim (paths, headers,
//! bodies) and answered in the seed's shapes, the records checked with a
//! Kafka client; content negotiation; keys partitioned as the Java client
//! does; the cluster v2 acts on chosen without being named.

use std::time::Duration;

use ferry_tests::{AppOptions, Backend, Reply, TestApp, kafka::TestKafka};
use rdkafka::producer::{FutureProducer, FutureRecord};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

pub(crate) const V2: &str = "application/vnd.kafka.v2+json";
const ACCEPT_ANY: &str =
    "application/vnd.kafka.v2+json, application/vnd.kafka+json, application/json";

/// A v2 request as the admin, with the seed's headers.
pub(crate) async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    content_type: Option<&str>,
    accept: &str,
    body: Option<&str>,
) -> Reply {
    let mut req = app
        .client
        .request(method.clone(), app.url(path))
        .bearer_auth(&app.admin_token)
        .header("accept", accept);
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    if let Some(body) = body {
        req = req.body(body.to_owned());
    }
    Reply::read(method.as_str(), path, req.send().await.expect("request")).await
}

async fn get(app: &TestApp, path: &str) -> Reply {
    call(app, Method::GET, path, None, V2, None).await
}

async fn produce(app: &TestApp, path: &str, content_type: &str, body: &str) -> Reply {
    call(
        app,
        Method::POST,
        path,
        Some(content_type),
        ACCEPT_ANY,
        Some(body),
    )
    .await
}

pub(crate) fn expect_v2(reply: &Reply, status: u16) -> Value {
    let body = reply.expect(status);
    assert_eq!(reply.header("content-type").as_deref(), Some(V2), "{reply}");
    body
}

pub(crate) fn expect_v2_error(reply: &Reply, status: u16, code: i64) -> String {
    assert_eq!(reply.header("content-type").as_deref(), Some(V2), "{reply}");
    expect_error(reply, status, code)
}

/// The `offsets` of a produce answer, after checking that none failed.
fn written(answer: &Value, count: usize) -> Vec<(i64, i64)> {
    assert!(answer["key_schema_id"].is_null(), "{answer}");
    assert!(answer["value_schema_id"].is_null(), "{answer}");
    let offsets = answer["offsets"].as_array().expect("offsets");
    assert_eq!(offsets.len(), count, "{answer}");
    offsets
        .iter()
        .map(|o| {
            assert!(
                o["error_code"].is_null() && o["error"].is_null(),
                "{answer}"
            );
            (
                o["partition"].as_i64().expect("partition"),
                o["offset"].as_i64().expect("offset"),
            )
        })
        .collect()
}

async fn seed_requests_answer_in_the_seed_shape(backend: Backend) {
    let kafka = TestKafka::start().await;
    let app = TestApp::spawn(backend).await;
    add_cluster(&app, &kafka).await;
    kafka.create_topic("test", 3).await;

    // Metadata: topics, one topic, its partitions, one partition, offsets,
    // brokers.
    let topics = expect_v2(&get(&app, "/topics").await, 200);
    assert!(
        topics
            .as_array()
            .is_some_and(|t| t.contains(&json!("test"))),
        "{topics}"
    );
    let topic = expect_v2(&get(&app, "/topics/test").await, 200);
    assert_eq!(topic["name"], "test");
    assert!(topic["configs"].is_object(), "{topic}");
    let partitions = topic["partitions"].as_array().expect("partitions");
    assert_eq!(partitions.len(), 3, "{topic}");
    for (i, p) in partitions.iter().enumerate() {
        assert_eq!(p["partition"], i as i64, "{topic}");
        let leader = p["leader"].as_i64().expect("leader");
        let replicas = p["replicas"].as_array().expect("replicas");
        assert!(
            replicas
                .iter()
                .any(|r| r["broker"] == leader && r["leader"] == true && r["in_sync"] == true),
            "{topic}"
        );
    }
    let listed = expect_v2(&get(&app, "/topics/test/partitions").await, 200);
    assert_eq!(listed.as_array().map(Vec::len), Some(3), "{listed}");
    let one = expect_v2(&get(&app, "/topics/test/partitions/1").await, 200);
    assert_eq!(one["partition"], 1);
    assert_eq!(one, listed[1]);
    let offsets = expect_v2(&get(&app, "/topics/test/partitions/1/offsets").await, 200);
    assert_eq!(offsets, json!({ "beginning_offset": 0, "end_offset": 0 }));
    let brokers = expect_v2(&get(&app, "/brokers").await, 200);
    assert_eq!(
        brokers["brokers"].as_array().map(Vec::len),
        Some(1),
        "{brokers}"
    );

    // The seed's binary produce to the topic: the record with a partition
    // goes there, every record gets an offset.
    let binary = r#"{
  "records": [
    {
      "key": "a2V5",
      "value": "Y29uZmx1ZW50"
    },
    {
      "value": "a2Fma2E=",
      "partition": 1
    },
    {
      "value": "bG9ncw=="
    }
  ]
}"#;
    let answer = expect_v2(
        &produce(
            &app,
            "/topics/test",
            "application/vnd.kafka.binary.v2+json",
            binary,
        )
        .await,
        200,
    );
    let landed = written(&answer, 3);
    assert_eq!(landed[1].0, 1, "{answer}");

    // The seed's JSON produce to the topic.
    let json_body = r#"{
  "records": [
    {
      "key": "somekey",
      "value": {"foo": "bar"}
    },
    {
      "value": [ "foo", "bar" ],
      "partition": 1
    },
    {
      "value": 53.5
    }
  ]
}"#;
    let answer = expect_v2(
        &produce(
            &app,
            "/topics/test",
            "application/vnd.kafka.json.v2+json",
            json_body,
        )
        .await,
        200,
    );
    assert_eq!(written(&answer, 3)[1].0, 1, "{answer}");

    // The seed's produce to partition 1, binary and JSON.
    let to_partition = r#"{
  "records": [
    {
      "key": "a2V5",
      "value": "Y29uZmx1ZW50"
    },
    {
      "value": "a2Fma2E="
    }
  ]
}"#;
    let answer = expect_v2(
        &produce(
            &app,
            "/topics/test/partitions/1",
            "application/vnd.kafka.binary.v2+json",
            to_partition,
        )
        .await,
        200,
    );
    assert!(written(&answer, 2).iter().all(|(p, _)| *p == 1), "{answer}");
    let json_to_partition = r#"{
  "records": [
    {
      "key": "somekey",
      "value": {"foo": "bar"}
    },
    {
      "value": 53.5
    }
  ]
}"#;
    let answer = expect_v2(
        &produce(
            &app,
            "/topics/test/partitions/1",
            "application/vnd.kafka.json.v2+json",
            json_to_partition,
        )
        .await,
        200,
    );
    let offsets_1 = written(&answer, 2);
    assert!(offsets_1.iter().all(|(p, _)| *p == 1), "{answer}");

    // The records, as a Kafka client reads them: binary decoded, JSON as
    // its text.
    let records = kafka.consume_all("test", 10, Duration::from_secs(20)).await;
    assert_eq!(records.len(), 10, "{records:?}");
    let has = |key: Option<&[u8]>, value: &[u8]| {
        records
            .iter()
            .any(|r| r.key.as_deref() == key && r.value == value)
    };
    assert!(has(Some(b"key"), b"confluent"), "{records:?}");
    assert!(has(None, b"kafka"), "{records:?}");
    assert!(has(None, b"logs"), "{records:?}");
    assert!(
        has(Some(b"\"somekey\""), br#"{"foo":"bar"}"#),
        "{records:?}"
    );
    assert!(has(None, br#"["foo","bar"]"#), "{records:?}");
    assert!(has(None, b"53.5"), "{records:?}");
    // The partition's end is past the offsets produce answered (tansu
    // counts a batch as one offset, so not necessarily one past the last).
    let end = expect_v2(&get(&app, "/topics/test/partitions/1/offsets").await, 200);
    assert!(end["end_offset"].as_i64() >= Some(offsets_1[1].1), "{end}");

    // The schema formats need the cluster's schema registry, which this
    // cluster has none of (schema_formats.rs has one): the seed's Avro,
    // Protobuf and JSON Schema requests are refused with 40801, and a
    // schema format without its schema with 42202.
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
    let refused = produce(
        &app,
        "/topics/test",
        "application/vnd.kafka.avro.v2+json",
        avro,
    )
    .await;
    assert!(expect_v2_error(&refused, 408, 40801).contains("schema registry"));
    let protobuf = r#"{
  "value_schema": "syntax=\"proto3\"; message Foo { string f1 = 1; }",
  "records": [{"value": {"f1": "foo"}}]
}"#;
    let refused = produce(
        &app,
        "/topics/test/partitions/1",
        "application/vnd.kafka.protobuf.v2+json",
        protobuf,
    )
    .await;
    expect_v2_error(&refused, 408, 40801);
    let no_schema = r#"{"records": [{"value": {"f1": "bar"}}]}"#;
    let refused = produce(
        &app,
        "/topics/test/partitions/1",
        "application/vnd.kafka.jsonschema.v2+json",
        no_schema,
    )
    .await;
    expect_v2_error(&refused, 422, 42202);

    // Unknown topics and partitions, bad data, no records.
    expect_v2_error(&get(&app, "/topics/nope").await, 404, 40401);
    expect_v2_error(&get(&app, "/topics/test/partitions/9").await, 404, 40402);
    expect_v2_error(
        &get(&app, "/topics/test/partitions/9/offsets").await,
        404,
        40402,
    );
    let one_record = r#"{"records": [{"value": "a2Fma2E="}]}"#;
    let refused = produce(&app, "/topics/nope", V2, one_record).await;
    expect_v2_error(&refused, 404, 40401);
    let refused = produce(&app, "/topics/test/partitions/9", V2, one_record).await;
    expect_v2_error(&refused, 404, 40402);
    let refused = produce(
        &app,
        "/topics/test",
        V2,
        r#"{"records": [{"value": "a2Fma2E=", "partition": 7}]}"#,
    )
    .await;
    expect_v2_error(&refused, 404, 40402);
    let refused = produce(
        &app,
        "/topics/test",
        V2,
        r#"{"records": [{"value": "%%%"}]}"#,
    )
    .await;
    assert!(expect_v2_error(&refused, 422, 42205).contains("records[0].value"));
    let refused = produce(&app, "/topics/test", V2, r#"{"records": []}"#).await;
    expect_v2_error(&refused, 422, 422);
    let refused = produce(&app, "/topics/test", "text/plain", one_record).await;
    expect_v2_error(&refused, 415, 415);

    // Negotiation: the answer takes the type the client weighs highest; an
    // Accept that allows none of v2's types is refused.
    let as_json = call(
        &app,
        Method::GET,
        "/brokers",
        None,
        "application/json",
        None,
    )
    .await;
    as_json.expect(200);
    assert_eq!(
        as_json.header("content-type").as_deref(),
        Some("application/json")
    );
    let weighted = call(
        &app,
        Method::GET,
        "/brokers",
        None,
        "application/vnd.kafka.v2+json; q=0.9, application/json; q=0.5",
        None,
    )
    .await;
    expect_v2(&weighted, 200);
    let refused = call(&app, Method::GET, "/brokers", None, "text/html", None).await;
    expect_v2_error(&refused, 406, 406);

    // Produce calls are data, not changes: they leave no audit entry.
    let audit = app.get("/api/v1/audit?pageSize=100").await.expect(200);
    assert!(
        !audit.to_string().contains("/topics/test"),
        "a produce call was audited: {audit}"
    );
}

async fn keys_land_where_the_java_client_puts_them(backend: Backend) {
    let kafka = TestKafka::start().await;
    let app = TestApp::spawn(backend).await;
    add_cluster(&app, &kafka).await;
    kafka.create_topic("keyed", 8).await;
    let keys: Vec<String> = (0..24).map(|i| format!("customer-{i}")).collect();

    let records: Vec<Value> = keys
        .iter()
        .map(|k| json!({ "key": k, "value": "x" }))
        .collect();
    let body = json!({ "records": records }).to_string();
    let answer = expect_v2(
        &produce(
            &app,
            "/topics/keyed",
            "application/vnd.kafka.json.v2+json",
            &body,
        )
        .await,
        200,
    );
    let over_http: Vec<i64> = written(&answer, keys.len())
        .iter()
        .map(|(p, _)| *p)
        .collect();

    // The same keys (as the JSON format writes them) from a native producer
    // with the Java client's partitioner.
    let producer: FutureProducer = kafka
        .client_config()
        .set("partitioner", "murmur2_random")
        .create()
        .expect("producer");
    let mut native = Vec::new();
    for key in &keys {
        let key = json!(key).to_string();
        let (partition, _) = producer
            .send(
                FutureRecord::to("keyed").key(&key).payload("x"),
                Duration::from_secs(10),
            )
            .await
            .map(|d| (d.partition, d.offset))
            .expect("native produce");
        native.push(i64::from(partition));
    }
    assert_eq!(over_http, native, "HTTP and native producers disagree");
    let distinct: std::collections::HashSet<_> = over_http.iter().collect();
    assert!(
        distinct.len() > 1,
        "every key in one partition: {over_http:?}"
    );
}

async fn the_cluster_is_chosen_without_being_named(backend: Backend) {
    let kafka = TestKafka::start().await;
    let app =
        TestApp::spawn_with(AppOptions::new(backend).env("FERRY_CONFLUENT__V2_CLUSTER", "second"))
            .await;

    // Nothing registered: 404 saying v2 needs a cluster.
    let refused = get(&app, "/brokers").await;
    assert!(expect_v2_error(&refused, 404, 404).contains("no Kafka cluster"));

    let mut first_body = kafka.registration("first");
    first_body["name"] = json!("first");
    app.post("/api/v1/clusters", &first_body).await.expect(201);
    // One cluster, not the one the setting names: refused, naming it.
    let refused = get(&app, "/brokers").await;
    assert!(expect_v2_error(&refused, 404, 404).contains("confluent.v2_cluster"));
    let mut second_body = kafka.registration("second");
    second_body["name"] = json!("second");
    let second = app.post("/api/v1/clusters", &second_body).await.expect(201);
    expect_v2(&get(&app, "/brokers").await, 200);

    // A project token acts on its project's one Kafka cluster.
    app.post(
        "/api/v1/projects",
        &json!({ "id": "team", "name": "Team", "description": "v2" }),
    )
    .await
    .expect(201);
    let minted = app
        .post(
            "/api/v1/projects/team/tokens",
            &json!({ "name": "team-client", "role": "CLIENT" }),
        )
        .await
        .expect(201);
    let token = minted["token"].as_str().expect("token").to_owned();
    let as_team = |path: &'static str| {
        let app = &app;
        let token = token.clone();
        async move {
            let req = app
                .client
                .get(app.url(path))
                .bearer_auth(&token)
                .header("accept", V2);
            Reply::read("GET", path, req.send().await.expect("request")).await
        }
    };
    let refused = as_team("/brokers").await;
    assert!(expect_v2_error(&refused, 404, 404).contains("granted no Kafka cluster"));
    let second_id = second["id"].as_str().expect("id");
    app.put(
        &format!("/api/v1/projects/team/grants/{second_id}"),
        &json!({ "topicPrefix": "team." }),
    )
    .await
    .expect(200);
    expect_v2(&as_team("/brokers").await, 200);
    kafka.create_topic("team.orders", 1).await;
    kafka.create_topic("other", 1).await;
    let seen = expect_v2(&as_team("/topics").await, 200);
    assert_eq!(
        seen,
        json!(["team.orders"]),
        "a project sees its own topics only"
    );
}

ferry_tests::both_backends!(seed_requests_answer_in_the_seed_shape);

#[tokio::test]
async fn keys_land_where_the_java_client_puts_them_sqlite() {
    keys_land_where_the_java_client_puts_them(Backend::Sqlite).await;
}

#[tokio::test]
async fn the_cluster_is_chosen_without_being_named_sqlite() {
    the_cluster_is_chosen_without_being_named(Backend::Sqlite).await;
}
