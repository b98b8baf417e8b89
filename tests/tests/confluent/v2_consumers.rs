//! REST Proxy v2 consumer instances against tansu: the seed's requests
//! sent verbatim and answered in its shapes (create, subscription,
//! assignments, positions, records, offsets, delete) with its error codes;
//! records written by a native Kafka producer read back over HTTP; the
//! group's committed offsets shared with a later instance; an idle instance
//! expiring; and any `ferry-api` process serving any instance: a call to a
//! process that does not hold the instance is forwarded to the one that
//! does, and when that one dies, the process that got the call takes the
//! instance over from the group's committed offsets.

use std::time::{Duration, Instant};

use base64::Engine;
use ferry_tests::{AppOptions, Backend, Reply, TestApp, kafka::TestKafka};
use reqwest::Method;
use serde_json::{Value, json};

use crate::{
    helpers::*,
    v2::{V2, expect_v2, expect_v2_error},
};

const BINARY: &str = "application/vnd.kafka.binary.v2+json";
const JSON: &str = "application/vnd.kafka.json.v2+json";
const INSTANCE: &str = "/consumers/testgroup/instances/my_consumer";

/// A v2 request to the ferry process at `base`, as the admin.
pub(crate) async fn send(
    app: &TestApp,
    base: &str,
    method: Method,
    path: &str,
    accept: &str,
    body: Option<Value>,
) -> Reply {
    let mut req = app
        .client
        .request(method.clone(), format!("{base}{path}"))
        .bearer_auth(&app.admin_token)
        .header("accept", accept);
    if let Some(body) = body {
        req = req.header("content-type", V2).body(body.to_string());
    }
    Reply::read(method.as_str(), path, req.send().await.expect("request")).await
}

async fn post(app: &TestApp, path: &str, body: Value) -> Reply {
    send(app, &app.address, Method::POST, path, V2, Some(body)).await
}

/// Reads records until `count` have come or `timeout` passes.
pub(crate) async fn read_records(
    app: &TestApp,
    base: &str,
    instance: &str,
    accept: &str,
    count: usize,
    timeout: Duration,
) -> Vec<Value> {
    let started = Instant::now();
    let mut all = Vec::new();
    while all.len() < count && started.elapsed() < timeout {
        let reply = send(
            app,
            base,
            Method::GET,
            &format!("{instance}/records?timeout=1000&max_bytes=300000"),
            accept,
            None,
        )
        .await;
        let body = reply.expect(200);
        assert_eq!(
            reply.header("content-type").as_deref(),
            Some(accept),
            "{reply}"
        );
        all.extend(body.as_array().cloned().expect("a list of records"));
    }
    all
}

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

async fn seed_consumer_requests_answer_in_the_seed_shape(backend: Backend) {
    let kafka = TestKafka::start().await;
    let app = TestApp::spawn(backend).await;
    add_cluster(&app, &kafka).await;
    kafka.create_topic("test", 2).await;
    kafka.produce_one_by_one("test", 0, 3).await;
    kafka.produce_one_by_one("test", 1, 2).await;

    // Create, as the seed does; a second instance of the same name is refused.
    let create = json!({
        "name": "my_consumer",
        "format": "binary",
        "auto.offset.reset": "earliest",
        "auto.commit.enable": "false"
    });
    let created = expect_v2(
        &post(&app, "/consumers/testgroup/", create.clone()).await,
        200,
    );
    assert_eq!(created["instance_id"], "my_consumer", "{created}");
    assert_eq!(
        created["base_uri"],
        format!("{}{INSTANCE}", app.address),
        "{created}"
    );
    expect_v2_error(
        &post(&app, "/consumers/testgroup", create).await,
        409,
        40902,
    );
    // A body under a type v2 does not take.
    let wrong = app
        .client
        .post(app.url("/consumers/testgroup"))
        .bearer_auth(&app.admin_token)
        .header("content-type", "text/plain")
        .body(r#"{"name": "x"}"#)
        .send()
        .await
        .expect("request");
    let wrong = Reply::read("POST", "/consumers/testgroup", wrong).await;
    assert_eq!(wrong.status.as_u16(), 415, "{wrong}");
    for (bad, code, status) in [
        (json!({"auto.offset.reset": "sometimes"}), 42204, 422),
        (json!({"auto.commit.enable": "maybe"}), 42204, 422),
        (json!({"fetch.min.bytes": "-5"}), 42204, 422),
        (json!({"format": "xml"}), 42204, 422),
        (json!({"format": "avro"}), 40801, 408),
    ] {
        expect_v2_error(&post(&app, "/consumers/other", bad).await, status, code);
    }

    // Subscription: the seed's two forms, exclusive with assignments.
    let subscription = format!("{INSTANCE}/subscription");
    post(&app, &subscription, json!({"topics": ["test1", "test2"]}))
        .await
        .expect(204);
    let topics = expect_v2(
        &send(&app, &app.address, Method::GET, &subscription, V2, None).await,
        200,
    );
    assert_eq!(topics, json!({"topics": ["test1", "test2"]}));
    let assign = json!({"partitions": [{"topic": "test", "partition": 0}, {"topic": "test", "partition": 1}]});
    expect_v2_error(
        &post(&app, &format!("{INSTANCE}/assignments"), assign.clone()).await,
        409,
        40903,
    );
    expect_v2_error(
        &post(
            &app,
            &subscription,
            json!({"topics": ["a"], "topic_pattern": "a.*"}),
        )
        .await,
        409,
        40903,
    );
    send(&app, &app.address, Method::DELETE, &subscription, V2, None)
        .await
        .expect(204);

    // Assignments, then the records a native producer wrote.
    post(&app, &format!("{INSTANCE}/assignments"), assign)
        .await
        .expect(204);
    let assigned = expect_v2(
        &send(
            &app,
            &app.address,
            Method::GET,
            &format!("{INSTANCE}/assignments"),
            V2,
            None,
        )
        .await,
        200,
    );
    assert_eq!(
        assigned,
        json!({"partitions": [{"topic": "test", "partition": 0}, {"topic": "test", "partition": 1}]})
    );
    let records = read_records(
        &app,
        &app.address,
        INSTANCE,
        BINARY,
        5,
        Duration::from_secs(30),
    )
    .await;
    let mut seen: Vec<(i64, i64, String)> = records
        .iter()
        .map(|r| {
            assert_eq!(r["topic"], "test", "{r}");
            assert!(r["key"].is_null(), "{r}");
            (
                r["partition"].as_i64().expect("partition"),
                r["offset"].as_i64().expect("offset"),
                r["value"].as_str().expect("a base64 value").to_owned(),
            )
        })
        .collect();
    seen.sort();
    let expected: Vec<(i64, i64, String)> = [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1)]
        .into_iter()
        .map(|(p, o)| (p, o, b64(&format!("record-{o}"))))
        .collect();
    assert_eq!(seen, expected);

    // The records route answers only in the instance's format.
    let reply = send(
        &app,
        &app.address,
        Method::GET,
        &format!("{INSTANCE}/records"),
        JSON,
        None,
    )
    .await;
    expect_v2_error(&reply, 406, 40601);

    // Offsets: committed as the last record processed, read back as the
    // next to read (the seed's 20 -> 21).
    post(
        &app,
        &format!("{INSTANCE}/offsets"),
        json!({"offsets": [{"topic": "test", "partition": 0, "offset": 1}, {"topic": "test", "partition": 1, "offset": 0}]}),
    )
    .await
    .expect(204);
    let committed = app
        .client
        .get(app.url(&format!("{INSTANCE}/offsets")))
        .bearer_auth(&app.admin_token)
        .header("content-type", "application/vnd.kafka.v2+json, application/vnd.kafka+json, application/json")
        .body(json!({"partitions": [{"topic": "test", "partition": 0}, {"topic": "test", "partition": 1}]}).to_string())
        .send()
        .await
        .expect("request");
    let committed = Reply::read("GET", "offsets", committed).await;
    let committed = expect_v2(&committed, 200);
    assert_eq!(
        committed,
        json!({"offsets": [
            {"topic": "test", "partition": 0, "offset": 2, "metadata": ""},
            {"topic": "test", "partition": 1, "offset": 1, "metadata": ""}
        ]})
    );

    // Positions: beginning, an offset, end.
    post(
        &app,
        &format!("{INSTANCE}/positions/beginning"),
        json!({"partitions": [{"topic": "test", "partition": 0}]}),
    )
    .await
    .expect(204);
    let again = read_records(
        &app,
        &app.address,
        INSTANCE,
        BINARY,
        3,
        Duration::from_secs(20),
    )
    .await;
    let offsets: Vec<i64> = again
        .iter()
        .map(|r| r["offset"].as_i64().unwrap_or(-1))
        .collect();
    assert_eq!(offsets, [0, 1, 2], "{again:?}");
    post(
        &app,
        &format!("{INSTANCE}/positions"),
        json!({"offsets": [{"topic": "test", "partition": 1, "offset": 1}]}),
    )
    .await
    .expect(204);
    let one = read_records(
        &app,
        &app.address,
        INSTANCE,
        BINARY,
        1,
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(
        (one[0]["partition"].as_i64(), one[0]["offset"].as_i64()),
        (Some(1), Some(1))
    );
    post(
        &app,
        &format!("{INSTANCE}/positions/end"),
        json!({"partitions": [{"topic": "test", "partition": 0}, {"topic": "test", "partition": 1}]}),
    )
    .await
    .expect(204);
    // The end is resolved when the partition is next fetched (as in Kafka's
    // client): a read that finds nothing settles it before the new record.
    let nothing = read_records(
        &app,
        &app.address,
        INSTANCE,
        BINARY,
        1,
        Duration::from_secs(2),
    )
    .await;
    assert!(nothing.is_empty(), "{nothing:?}");
    kafka.produce_one_by_one("test", 0, 1).await;
    let after_end = read_records(
        &app,
        &app.address,
        INSTANCE,
        BINARY,
        1,
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(
        (
            after_end[0]["partition"].as_i64(),
            after_end[0]["offset"].as_i64()
        ),
        (Some(0), Some(3)),
        "{after_end:?}"
    );
    expect_v2_error(
        &post(
            &app,
            &format!("{INSTANCE}/positions"),
            json!({"offsets": [{"topic": "elsewhere", "partition": 0, "offset": 1}]}),
        )
        .await,
        404,
        40402,
    );

    // A commit without a body commits what was returned; delete removes it.
    let commit_all = app
        .client
        .post(app.url(&format!("{INSTANCE}/offsets")))
        .bearer_auth(&app.admin_token)
        .header("content-type", V2)
        .send()
        .await
        .expect("request");
    Reply::read("POST", "offsets", commit_all).await.expect(204);
    send(&app, &app.address, Method::DELETE, INSTANCE, V2, None)
        .await
        .expect(204);
    expect_v2_error(
        &send(
            &app,
            &app.address,
            Method::GET,
            &format!("{INSTANCE}/records"),
            BINARY,
            None,
        )
        .await,
        404,
        40403,
    );
    expect_v2_error(
        &send(&app, &app.address, Method::DELETE, INSTANCE, V2, None).await,
        404,
        40403,
    );
    // Consumer calls are data, not changes: no audit row.
    let audit = app.get("/api/v1/audit?pageSize=500").await.expect(200);
    assert!(
        !audit.to_string().contains("/consumers/"),
        "consumer calls were audited: {audit}"
    );
}

async fn json_instances_follow_a_pattern_and_share_the_groups_offsets(backend: Backend) {
    let kafka = TestKafka::start().await;
    let app = TestApp::spawn(backend).await;
    add_cluster(&app, &kafka).await;
    kafka.create_topic("jtest-a", 1).await;
    kafka.create_topic("other", 1).await;
    for value in [json!({"foo": "bar"}), json!(["foo", "bar"])] {
        let reply = app
            .client
            .post(app.url("/topics/jtest-a"))
            .bearer_auth(&app.admin_token)
            .header("content-type", JSON)
            .body(json!({"records": [{"key": "somekey", "value": value}]}).to_string())
            .send()
            .await
            .expect("produce");
        Reply::read("POST", "/topics/jtest-a", reply)
            .await
            .expect(200);
    }
    kafka.produce_one_by_one("other", 0, 1).await;
    // And one written by a native producer.
    kafka
        .produce("jtest-a", r#"{"native": true}"#)
        .await
        .expect("a native record");

    let create = json!({"name": "j1", "format": "json", "auto.offset.reset": "earliest", "auto.commit.enable": false});
    expect_v2(&post(&app, "/consumers/jsongroup", create).await, 200);
    let j1 = "/consumers/jsongroup/instances/j1";
    post(
        &app,
        &format!("{j1}/subscription"),
        json!({"topic_pattern": "jtest.*"}),
    )
    .await
    .expect(204);
    let topics = expect_v2(
        &send(
            &app,
            &app.address,
            Method::GET,
            &format!("{j1}/subscription"),
            V2,
            None,
        )
        .await,
        200,
    );
    assert_eq!(topics, json!({"topics": ["jtest-a"]}));
    let records = read_records(&app, &app.address, j1, JSON, 3, Duration::from_secs(30)).await;
    let values: Vec<&Value> = records.iter().map(|r| &r["value"]).collect();
    assert_eq!(
        values,
        [
            &json!({"foo": "bar"}),
            &json!(["foo", "bar"]),
            &json!({"native": true})
        ],
        "{records:?}"
    );
    assert!(
        records[..2].iter().all(|r| r["key"] == "somekey"),
        "{records:?}"
    );

    // Commit the first only; a new instance of the group starts after it.
    post(
        &app,
        &format!("{j1}/offsets"),
        json!({"offsets": [{"topic": "jtest-a", "partition": 0, "offset": 0}]}),
    )
    .await
    .expect(204);
    send(&app, &app.address, Method::DELETE, j1, V2, None)
        .await
        .expect(204);
    let create = json!({"name": "j2", "format": "json", "auto.offset.reset": "earliest"});
    expect_v2(&post(&app, "/consumers/jsongroup", create).await, 200);
    let j2 = "/consumers/jsongroup/instances/j2";
    post(
        &app,
        &format!("{j2}/subscription"),
        json!({"topics": ["jtest-a"]}),
    )
    .await
    .expect(204);
    let rest = read_records(&app, &app.address, j2, JSON, 1, Duration::from_secs(30)).await;
    assert_eq!(rest[0]["offset"], 1, "{rest:?}");
    assert_eq!(rest[0]["value"], json!(["foo", "bar"]));
}

async fn an_idle_instance_expires(backend: Backend) {
    let kafka = TestKafka::start().await;
    let app = TestApp::spawn_with(
        AppOptions::new(backend).env("FERRY_CONFLUENT__CONSUMER_INSTANCE_TIMEOUT_MS", "1500"),
    )
    .await;
    add_cluster(&app, &kafka).await;
    expect_v2(
        &post(&app, "/consumers/idle", json!({"name": "sleepy"})).await,
        200,
    );
    let path = "/consumers/idle/instances/sleepy/subscription";
    // In use, it stays.
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        send(&app, &app.address, Method::GET, path, V2, None)
            .await
            .expect(200);
    }
    tokio::time::sleep(Duration::from_secs(4)).await;
    expect_v2_error(
        &send(&app, &app.address, Method::GET, path, V2, None).await,
        404,
        40403,
    );
}

/// Two API processes on one PostgreSQL store: calls to the process that
/// does not hold the instance are forwarded; when the holder is killed, the
/// other takes over from the committed offsets; at a clean stop, a third
/// takes over at once.
#[tokio::test]
async fn any_process_serves_any_instance() {
    let kafka = TestKafka::start().await;
    let mut app = TestApp::spawn(Backend::Postgres).await;
    add_cluster(&app, &kafka).await;
    kafka.create_topic("shared", 1).await;
    kafka.produce_one_by_one("shared", 0, 3).await;
    let (mut second, b) = app
        .launcher()
        .spawn_api(false, &[])
        .await
        .expect("a second API process");

    let create =
        json!({"name": "roamer", "auto.offset.reset": "earliest", "auto.commit.enable": "false"});
    let created = expect_v2(&post(&app, "/consumers/shared-group", create).await, 200);
    assert_eq!(created["instance_id"], "roamer");
    let roamer = "/consumers/shared-group/instances/roamer";

    // Through the second process: forwarded to the first.
    let assign = json!({"partitions": [{"topic": "shared", "partition": 0}]});
    send(
        &app,
        &b,
        Method::POST,
        &format!("{roamer}/assignments"),
        V2,
        Some(assign),
    )
    .await
    .expect(204);
    // One record per call (max_bytes=1), calls alternating between the two
    // processes: every record once, in order, and never a 40403.
    let mut offsets: Vec<i64> = Vec::new();
    let started = Instant::now();
    let mut call = 0;
    while offsets.len() < 3 && started.elapsed() < Duration::from_secs(30) {
        let base = if call % 2 == 0 { &app.address } else { &b };
        call += 1;
        let reply = send(
            &app,
            base,
            Method::GET,
            &format!("{roamer}/records?timeout=1000&max_bytes=1"),
            BINARY,
            None,
        )
        .await;
        let got = reply.expect(200);
        let got = got.as_array().expect("records");
        assert!(got.len() <= 1, "max_bytes=1 answered {got:?}");
        offsets.extend(got.iter().map(|r| r["offset"].as_i64().unwrap_or(-1)));
    }
    assert_eq!(offsets, [0, 1, 2]);
    let forwarded = metric(&app, &b, "ferry_consumer_calls_forwarded_total").await;
    assert!(
        forwarded >= 2.0,
        "the second process forwarded {forwarded} calls"
    );
    send(
        &app,
        &b,
        Method::POST,
        &format!("{roamer}/offsets"),
        V2,
        Some(json!({"offsets": [{"topic": "shared", "partition": 0, "offset": 1}]})),
    )
    .await
    .expect(204);

    // The holder dies without a word: the second process takes over at the
    // next call and resumes after the committed offset.
    app.api.kill();
    let resumed = read_records(&app, &b, roamer, BINARY, 1, Duration::from_secs(30)).await;
    assert_eq!(resumed[0]["offset"], 2, "{resumed:?}");
    let assigned = expect_v2(
        &send(
            &app,
            &b,
            Method::GET,
            &format!("{roamer}/assignments"),
            V2,
            None,
        )
        .await,
        200,
    );
    assert_eq!(
        assigned,
        json!({"partitions": [{"topic": "shared", "partition": 0}]})
    );

    // A clean stop releases the instance: a third process serves it at once.
    let (_third, c) = app
        .launcher()
        .spawn_api(false, &[])
        .await
        .expect("a third API process");
    second.terminate();
    second.wait_exit(Duration::from_secs(30)).await;
    let started = Instant::now();
    kafka.produce_one_by_one("shared", 0, 1).await;
    let next = read_records(&app, &c, roamer, BINARY, 2, Duration::from_secs(30)).await;
    assert!(
        next.iter().any(|r| r["offset"] == 3),
        "the third process did not resume the instance: {next:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "taking a released instance over waited for its lease: {:?}",
        started.elapsed()
    );
}

/// A counter's value in a process's `/metrics`.
async fn metric(app: &TestApp, base: &str, name: &str) -> f64 {
    let text = app
        .client
        .get(format!("{base}/metrics"))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    text.lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

ferry_tests::both_backends!(
    seed_consumer_requests_answer_in_the_seed_shape,
    json_instances_follow_a_pattern_and_share_the_groups_offsets,
    an_idle_instance_expires,
);
