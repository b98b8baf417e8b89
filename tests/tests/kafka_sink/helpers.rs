//! Shared steps of the Kafka sink tests: an upstream scratch MariaDB with its
//! binlog on, a tansu broker as the downstream, and ferry between them.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ferry_tests::{AppOptions, Backend, TestApp, kafka::TestKafka, mariadb::MariaDb};
use serde_json::{Value, json};

pub use crate::decode::*;

pub const SYNC_TIMEOUT: Duration = Duration::from_secs(90);

/// An upstream, a broker and ferry, with the upstream registered.
pub struct Rig {
    // Declared first so that ferry is gone before what it talks to.
    pub app: TestApp,
    pub upstream: MariaDb,
    pub kafka: TestKafka,
    pub cluster_id: String,
    /// The upstream database the test writes in.
    pub db: String,
    /// The topic the test's changefeed writes to.
    pub topic: String,
}

impl Rig {
    pub async fn start(options: AppOptions) -> Rig {
        Self::start_on(options, TestKafka::start().await).await
    }

    /// As [`Rig::start`], with this broker as the downstream.
    pub async fn start_on(options: AppOptions, kafka: TestKafka) -> Rig {
        let upstream = MariaDb::start().await;
        let app = TestApp::spawn_with(options).await;
        let cluster = app
            .post(
                "/api/v1/clusters",
                &json!({ "name": "upstream", "kind": "mysql", "host": "127.0.0.1", "port": upstream.port(), "user": "root" }),
            )
            .await
            .expect(201);
        let suffix = &uuid::Uuid::new_v4().simple().to_string()[..10];
        Rig {
            app,
            upstream,
            kafka,
            cluster_id: cluster["id"].as_str().unwrap().to_owned(),
            db: format!("kf_{suffix}"),
            topic: format!("cdc-{suffix}"),
        }
    }

    pub async fn with_worker() -> Rig {
        Self::start(AppOptions::new(Backend::Sqlite)).await
    }

    /// A downstream object for the test's topic on the broker by address,
    /// with `extra` fields added (or replacing the defaults).
    pub fn downstream(&self, protocol: &str, extra: Value) -> Value {
        let mut downstream = json!({
            "ip": "127.0.0.1", "port": self.kafka.port, "topicName": self.topic,
            "partitions": 3, "replicationFactor": 1, "protocol": protocol,
        });
        merge(&mut downstream, extra);
        downstream
    }

    /// A create body for a Kafka changefeed of everything in the test
    /// database.
    pub fn body(&self, downstream: Value) -> Value {
        json!({
            "clusterId": self.cluster_id,
            "name": "kafka-feed",
            "downstreamType": "kafka",
            "downstream": downstream,
            "rules": [format!("{}.*", self.db)],
        })
    }

    /// Creates the changefeed; returns its id.
    pub async fn create(&self, downstream: Value) -> String {
        let reply = self
            .app
            .post("/api/v1/changefeeds/", &self.body(downstream))
            .await
            .expect(200);
        assert_eq!(reply["code"], 0, "{reply}");
        reply["data"]["id"].as_str().expect("id").to_owned()
    }

    /// Posts a create body that must be refused with `status`; returns the
    /// message.
    pub async fn create_error(&self, body: &Value, status: u16) -> String {
        let reply = self.app.post("/api/v1/changefeeds/", body).await;
        let json = reply.expect(status);
        assert_ne!(json["code"], 0, "{reply}");
        let message = json["message"].as_str().unwrap_or_default().to_owned();
        assert!(!message.is_empty(), "a refusal without a message: {reply}");
        message
    }

    /// Registers the broker as a Kafka cluster (trusting its CA when it is
    /// reached over TLS); returns its id.
    pub async fn register_kafka(&self) -> String {
        let body = self.kafka.registration("tansu");
        let cluster = self.app.post("/api/v1/clusters", &body).await.expect(201);
        cluster["id"].as_str().expect("cluster id").to_owned()
    }

    pub async fn detail(&self, id: &str) -> Value {
        self.app.changefeed(id).await
    }

    /// Tasks of `kind` whose subject is `subject`, as `GET /api/v1/tasks`
    /// lists them, with `extra` query parameters.
    pub async fn tasks(&self, kind: &str, subject: &str, extra: &str) -> Vec<Value> {
        let reply = self
            .app
            .get(&format!(
                "/api/v1/tasks?kind={kind}&subject={subject}&pageSize=100{extra}"
            ))
            .await
            .expect(200);
        reply["data"].as_array().expect("a list of tasks").clone()
    }

    pub async fn wait_status(&self, id: &str, status: &str) -> Value {
        self.app.wait_changefeed(id, status, SYNC_TIMEOUT).await
    }

    pub async fn up(&self, sql: &str) {
        self.upstream.server().exec(sql).await;
    }

    /// Reads the topic until `done` accepts its events (decoded with
    /// `protocol`) or [`SYNC_TIMEOUT`] passes; returns them either way.
    pub async fn events_until(
        &self,
        protocol: Protocol,
        done: impl Fn(&[Event]) -> bool + Send + 'static,
    ) -> Vec<Event> {
        let records = self
            .kafka
            .consume_until(&self.topic, SYNC_TIMEOUT, move |records| {
                done(&decode_all(protocol, records))
            })
            .await;
        decode_all(protocol, &records)
    }
}

impl Rig {
    /// Everything on the topic after reading it for `time`.
    pub async fn events_for(&self, protocol: Protocol, time: Duration) -> Vec<Event> {
        let records = self.kafka.consume_until(&self.topic, time, |_| false).await;
        decode_all(protocol, &records)
    }
}

pub fn merge(target: &mut Value, extra: Value) {
    if let (Value::Object(t), Value::Object(e)) = (target, extra) {
        t.extend(e);
    }
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as u64
}
