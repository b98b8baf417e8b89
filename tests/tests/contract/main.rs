//! The contract, measured from outside (issue #16, item 17): schemathesis,
//! the property-based API tester, reads ferry's own `/openapi.json` and
//! calls every operation in it with an admin token, with every check it
//! has, and must find nothing: no server error, no response outside its
//! declared schema, status code or content type, no schema-valid request
//! refused and no schema-violating request accepted.
//!
//! The operations come from the document itself, so a new route is covered
//! the moment it is served. A registered tansu broker, a topic on it and a
//! consumer group make the Kafka routes answer from a real cluster: path
//! parameters of those names are fixed to them (`schemathesis.toml`,
//! written per run), every other parameter is generated.
//!
//! Exemptions, each a dialect's convention or a rule JSON Schema cannot
//! say (docs/SECURITY.md, "The contract", names them):
//! - EasyQueue (`/v1.0/...`) answers every call with HTTP 200 and the
//!   refusal in its body's header, so `ignored_auth`, `unsupported_method`
//!   and `negative_data_rejection` cannot read its answers there.
//! - `POST /api/v1/changefeeds/` may refuse a schema-valid body with 400:
//!   its table-filter rules follow TiDB's grammar and its downstream's
//!   fields depend on the downstream type and the upstream.
//! - `GET /api/v1/clusters/{id}/statistics` may refuse one with 400: its
//!   window must start within the last 90 days, a rule about the time of
//!   the call.
//! - Confluent's topic creation and config changes (`POST .../topics`,
//!   `PUT`/`POST`/`DELETE` of topic, broker and cluster-wide configs) may
//!   refuse one with 422: a config's name must be one Kafka knows (for a
//!   broker, one it reports), its value depends on its name (Kafka's
//!   table), and a name may appear once per request.
//! - Confluent's produce routes (v2 `POST /topics/{topic_name}[/partitions/
//!   {partition_id}]`, v3 `POST .../records`) may refuse one with 422: a key
//!   or value must decode in its format (base64 for binary, a string for
//!   `STRING`), and schema-registry types need a registry.
//! - REST Proxy v2's consumer creation (`POST /consumers/{group_name}`) may
//!   refuse one with 422 or 408: a setting's value depends on its name and
//!   a schema-registry format needs a registry.
//! - Confluent's partition count increase (`PATCH .../topics/{topic_name}`)
//!   may refuse one with 422: the count must be larger than the topic's
//!   current one, which Kafka cannot lower.
//!
//! - The native cluster routes' `{id}` is fixed to a decoy registration,
//!   so the stateful check that a created cluster can be found is off for
//!   them: the id they name is not the created one.
//!
//! - `GET /api/v1/tasks/{id}`'s `waitMs` is fixed to 100 ms: a long poll
//!   lasts as long as asked (up to 60 s) on a task that keeps retrying.
//!
//! The run is bounded and reproducible: a fixed seed, a bounded number of
//! examples per operation, one worker in each of the processes that run at
//! once ([`RUNS`]). Every report is printed; the test fails when one
//! schemathesis process exits with a failure.

use std::{
    process::Stdio,
    time::{Duration, Instant},
};

use ferry_tests::{AppOptions, Backend, TestApp, kafka::TestKafka, python};
use rdkafka::{
    Message, TopicPartitionList,
    consumer::{CommitMode, Consumer, StreamConsumer},
};

/// The topic and consumer group the Kafka routes are called on.
const TOPIC: &str = "contract";
const GROUP: &str = "contract-group";
/// The EasyQueue appKey (a project) the `/v1.0/appkeys` routes are called on.
const APP_KEY: &str = "contract";

/// The seed of every run: a failure found once is found again.
const SEED: u64 = 17;

/// Examples per operation in the fuzzing phase. With the coverage and
/// stateful phases this keeps the run under two minutes on two CPUs: one
/// process of two workers took 112-153 s (sessions 16-24, the last in CI);
/// the runs of [`RUNS`] together, with clusters that are down no longer
/// holding up every list (`kafka::reachability`), 43-49 s on a 2 vCPU Intel
/// Xeon (session 25). The coverage phase, most of the run, does not depend
/// on it.
const MAX_EXAMPLES: u32 = 10;

/// The schemathesis runs, all at once, each a process of one worker: its
/// phases, and the operations it calls (the coverage phase split three ways
/// by path: Confluent's v3 routes, the native `/api/` routes and the other
/// dialects; the fuzzing phase two ways, v3 and the rest; each part about as
/// long as the others). A process spends most of its time in Python under
/// one interpreter lock, so one process left a CPU idle; and its workers are
/// threads, which on CPython 3.11 now and then fail inside `ast.parse` ("AST
/// constructor recursion depth mismatch", a thread-safety bug of the
/// interpreter), so each process keeps one. The stateful phase follows links
/// from one operation to another, so it is given them all.
const RUNS: [(&str, &[&str]); 6] = [
    ("coverage", &["--include-path-regex", "^/v3/"]),
    ("coverage", &["--include-path-regex", "^/api/"]),
    ("coverage", &["--exclude-path-regex", "^/(v3|api)/"]),
    ("fuzzing", &["--include-path-regex", "^/v3/"]),
    ("fuzzing", &["--exclude-path-regex", "^/v3/"]),
    ("stateful", &[]),
];

/// The longest run the suite tolerates (issue #16: "under two minutes").
const BUDGET: Duration = Duration::from_secs(120);

#[tokio::test]
async fn schemathesis_finds_nothing_in_the_openapi_document() {
    let python = python::interpreter();
    let kafka = TestKafka::start().await;
    let app = TestApp::spawn_with(
        AppOptions::new(Backend::Sqlite)
            // Changes that wait for their task answer within 250 ms (202
            // with the task when it is not done), so that a run is not spent
            // waiting on the broker.
            .env("FERRY_API__TASK_WAIT_MS", "250")
            // REST Proxy v2 names no cluster: the broker's registration,
            // not the decoy.
            .env("FERRY_CONFLUENT__V2_CLUSTER", "contract"),
    )
    .await;
    let cluster = app
        .post("/api/v1/clusters", &kafka.registration("contract"))
        .await
        .expect(201)["id"]
        .as_str()
        .expect("cluster id")
        .to_owned();
    // A second registration for the native cluster routes' generated `{id}`
    // to change and delete: a small id could otherwise name the broker's
    // registration, and a schema-valid update (now accepted) would point it
    // elsewhere for the rest of the run.
    let decoy = app
        .post(
            "/api/v1/clusters",
            &serde_json::json!({ "name": "decoy", "kind": "kafka", "bootstrapServers": "127.0.0.1:9" }),
        )
        .await
        .expect(201)["id"]
        .as_str()
        .expect("decoy id")
        .to_owned();
    kafka.create_topic(TOPIC, 2).await;
    kafka
        .produce(TOPIC, "record")
        .await
        .expect("a record produced");
    // The group keeps its committed offset after its member leaves; a member
    // that stayed could crash this process in librdkafka's metadata cache
    // once a generated call deletes the topic it is subscribed to.
    drop(join_group(&kafka).await);
    // EasyQueue's appKey: a project granted the cluster under `contract.`.
    app.post(
        "/api/v1/projects",
        &serde_json::json!({ "id": APP_KEY, "name": "contract", "description": "" }),
    )
    .await
    .expect(201);
    app.put(
        &format!("/api/v1/projects/{APP_KEY}/grants/{cluster}"),
        &serde_json::json!({ "topicPrefix": format!("{APP_KEY}.") }),
    )
    .await
    .expect(200);
    let uuid = app
        .get(&format!("/api/v1/clusters/{cluster}"))
        .await
        .expect(200)["uuid"]
        .as_str()
        .expect("the cluster's uuid")
        .to_owned();
    let broker = app
        .get(&format!("/v3/clusters/{cluster}/brokers"))
        .await
        .expect(200)["data"][0]["broker_id"]
        .as_i64()
        .expect("a broker id");

    let dir = tempfile::tempdir().expect("a temporary directory");
    let config = dir.path().join("schemathesis.toml");
    std::fs::write(&config, config_file(&cluster, &decoy, &uuid, broker))
        .expect("write schemathesis.toml");

    let started = Instant::now();
    let run = |(phases, selection): (&'static str, &'static [&'static str])| {
        tokio::process::Command::new(&python)
            .arg("-c")
            .arg("import sys; from schemathesis.cli import schemathesis; sys.argv[0] = 'st'; sys.exit(schemathesis())")
            .arg("--config-file")
            .arg(&config)
            .arg("run")
            .arg(app.url("/openapi.json"))
            .args(["--phases", phases])
            .args(selection)
            .args(["--seed", &SEED.to_string()])
            .args(["--max-examples", &MAX_EXAMPLES.to_string()])
            .args(["--workers", "1"])
            .args(["--generation-database", "none"])
            .args(["--header", &format!("Authorization: Bearer {}", app.admin_token)])
            .args(["--request-timeout", "30"])
            .arg("--no-color")
            .current_dir(dir.path())
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output()
    };
    let outputs = futures::future::join_all(RUNS.into_iter().map(run)).await;
    let took = started.elapsed();
    let mut tested: Vec<(&str, usize)> = Vec::new();
    for ((phases, selection), output) in RUNS.into_iter().zip(outputs) {
        let output =
            output.unwrap_or_else(|e| panic!("run schemathesis with {}: {e}", python.display()));
        let report = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        println!("--- schemathesis, {phases} {selection:?} ---\n{report}");
        assert!(
            output.status.success(),
            "schemathesis's {phases} {selection:?} found contract violations ({}), report above\n{}",
            output.status,
            app.api.tail()
        );
        tested.push((phases, operations_tested(&report)));
    }
    assert_ran_every_operation(&tested, &app).await;
    println!("schemathesis ran for {:.1} s", took.as_secs_f64());
    assert!(
        took < BUDGET,
        "the schemathesis run took {took:?}, more than the suite's {BUDGET:?}"
    );
}

/// schemathesis's settings beside its command line: the Kafka resources
/// that path parameters name, and the exemptions.
fn config_file(cluster: &str, decoy: &str, uuid: &str, broker: i64) -> String {
    // schemathesis's default for the acceptance check, which the exemptions
    // below extend.
    let accepted = r#""2xx", "3xx", "401", "403", "404", "409", "429", "5xx""#;
    format!(
        r#"# Written by tests/tests/contract for one run.
[parameters]
"path.cluster_id" = "{cluster}"
"path.database_cluster_uuid" = "{uuid}"
"path.appKey" = "{APP_KEY}"
"path.topic_name" = "{TOPIC}"
"path.topicName" = "{TOPIC}"
"path.consumer_group_id" = "{GROUP}"
"path.broker_id" = "{broker}"

# The native cluster routes change and delete the decoy, never the
# broker's registration. Their `{{id}}` is fixed, so a cluster the stateful
# phase creates is not the one these calls name: once an earlier call
# deleted the decoy, a 404 here says nothing about the created one, and
# the check that a created resource can be found is off for them.
[[operations]]
include-path-regex = "^/api/v1/clusters/\\{{id\\}}"
parameters = {{ "path.id" = "{decoy}" }}
checks.ensure_resource_availability.enabled = false

# A long poll answers when its task finishes or when the wait asked for
# ends: a generated `waitMs` (up to 60 s) on a task that keeps retrying (one
# on the decoy, whose broker never answers) is a call that lasts as long as
# asked, longer than the run's request timeout. The wait is fixed short
# here; its bounds are checked in tests/tests/api/submission.rs.
[[operations]]
include-name-regex = "^GET /api/v1/tasks/\\{{id\\}}$"
parameters = {{ "query.waitMs" = 100 }}

# Every check runs (schemathesis's default), with these exemptions only.
# Each names its operations by `METHOD /path` in one filter: filters on
# the method and on the path would each match on their own.
#
# EasyQueue answers every call with HTTP 200 and puts the refusal (401,
# 405, 400) in the body's header (its seed's contract), which
# schemathesis's authentication, method and negative-data checks cannot
# read; ferry's own tests check those refusals
# (tests/tests/dialects/easyqueue.rs).
[[operations]]
include-path-regex = "^/v1\\.0/"
checks.ignored_auth.enabled = false
checks.unsupported_method.enabled = false
checks.negative_data_rejection.enabled = false

# Named deviations (docs/SECURITY.md, "The contract"): rules JSON Schema
# cannot say. A changefeed's table-filter rules follow TiDB's grammar, and
# its downstream object's fields depend on its type and on the upstream;
# TiEM answers 400 for those.
[[operations]]
include-name-regex = "^POST /api/v1/changefeeds/?$"
checks.positive_data_acceptance.expected-statuses = [{accepted}, "400"]

# A changeset's document holds Kafka's rules a schema cannot say: a
# topic's config values depend on their names, a name is given once, an ACL's
# fields are checked together, a changefeed's as TiEM checks them, `revert`
# needs `watch`; ferry answers 400 naming the entry.
[[operations]]
include-name-regex = "^(POST /api/v1/changesets/?|PATCH /api/v1/changesets/\\{{id\\}})$"
checks.positive_data_acceptance.expected-statuses = [{accepted}, "400"]

# A plan reads the live cluster: one whose brokers do not answer (the
# decoy registration) is 503, as the operation declares.
[[operations]]
include-name-regex = "^POST /api/v1/changesets/?$"
checks.not_a_server_error.enabled = false

# A statistics window must start within the last 90 days and last 60 s to
# 30 days: a rule about the time of the call, which a document cannot say.
[[operations]]
include-name-regex = "^GET /api/v1/clusters/\\{{id\\}}/statistics$"
checks.positive_data_acceptance.expected-statuses = [{accepted}, "400"]

# A Kafka config's value depends on the config's name (Kafka's own table:
# a type and a range per name, names given in the path or in a list; a
# broker's names are the ones it reports), and a name may be given once per
# request; Confluent answers 422 naming it.
[[operations]]
include-name-regex = "^(POST|PUT|DELETE) /v3/clusters/\\{{cluster_id\\}}/(topics|topics/\\{{topic_name\\}}/configs.*|broker-configs.*|brokers/\\{{broker_id\\}}/configs.*)$"
checks.positive_data_acceptance.expected-statuses = [{accepted}, "422"]

# A produced key or value must decode in its format: base64 for binary (v2's
# `application/vnd.kafka.binary.v2+json`, v3's `BINARY`), a string for v3's
# `STRING`, and v3's schema-registry types need a registry; whether data
# decodes depends on a sibling field or the content type. Confluent answers
# 422 naming the record.
[[operations]]
include-name-regex = "^POST (/topics/\\{{topic_name\\}}(/partitions/\\{{partition_id\\}})?|/v3/clusters/\\{{cluster_id\\}}/topics/\\{{topic_name\\}}/records)$"
checks.positive_data_acceptance.expected-statuses = [{accepted}, "422"]

# A REST Proxy v2 consumer's settings are strings whose values depend on
# their names (the REST Proxy's table: `auto.offset.reset` is one of five
# words, `fetch.min.bytes` a number), and a schema-registry format needs a
# registry; Confluent answers 422 (42204) naming the setting, or 408
# (40801) naming the format.
[[operations]]
include-name-regex = "^POST /consumers/\\{{group_name\\}}$"
checks.positive_data_acceptance.expected-statuses = [{accepted}, "408", "422"]

# A topic's new partition count must be larger than its current one (Kafka
# cannot remove partitions): a rule about the cluster's state; Confluent
# answers 422 naming the current count.
[[operations]]
include-name-regex = "^PATCH /v3/clusters/\\{{cluster_id\\}}/topics/\\{{topic_name\\}}$"
checks.positive_data_acceptance.expected-statuses = [{accepted}, "422"]
"#
    )
}

/// A consumer that joined the group and committed an offset.
async fn join_group(kafka: &TestKafka) -> StreamConsumer {
    let consumer: StreamConsumer = kafka
        .client_config()
        .set("group.id", GROUP)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "30000")
        .create()
        .expect("a consumer");
    consumer.subscribe(&[TOPIC]).expect("subscribe");
    let message = tokio::time::timeout(Duration::from_secs(60), consumer.recv())
        .await
        .expect("a record within 60 s")
        .expect("a record");
    let mut offsets = TopicPartitionList::new();
    offsets
        .add_partition_offset(
            TOPIC,
            message.partition(),
            rdkafka::Offset::Offset(message.offset() + 1),
        )
        .expect("an offset");
    consumer
        .commit(&offsets, CommitMode::Sync)
        .expect("offsets committed");
    consumer
}

/// The number of operations a run's report counts as tested.
fn operations_tested(report: &str) -> usize {
    report
        .lines()
        .find_map(|line| line.trim().strip_prefix("Tested: "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("the report names no tested operations:\n{report}"))
}

/// Each phase's runs together tested every operation of the document: none
/// was skipped or filtered out.
async fn assert_ran_every_operation(tested: &[(&str, usize)], app: &TestApp) {
    let document = app.get("/openapi.json").await.expect(200);
    let operations: usize = document["paths"]
        .as_object()
        .expect("the document has paths")
        .values()
        .map(|item| item.as_object().map_or(0, serde_json::Map::len))
        .sum();
    // The stateful phase calls the operations that links join, not all.
    for phases in ["coverage", "fuzzing"] {
        let count: usize = tested
            .iter()
            .filter(|(p, _)| *p == phases)
            .map(|(_, n)| n)
            .sum();
        assert_eq!(
            count, operations,
            "schemathesis's {phases} runs tested {count} of the document's {operations} operations"
        );
    }
}
