//! A real Kafka-protocol broker for tests: tansu with in-memory storage on a
//! free loopback port, plus an rdkafka client to check what ferry did.
//! [`TestKafka::start_tls`] starts one that clients reach only over TLS.
//!
//! Known gaps of tansu 0.6.0 that tests work around (they are the broker's,
//! not ferry's): CreatePartitions is unsupported, broker-level DescribeConfigs
//! times out, a multi-record batch counts as one offset, and the replica list
//! in Metadata may be empty.

use std::{
    net::TcpListener,
    path::PathBuf,
    time::{Duration, Instant},
};

use rdkafka::{
    ClientConfig, Message, Offset, TopicPartitionList,
    admin::{AdminClient, AdminOptions, NewTopic, TopicReplication},
    client::DefaultClientContext,
    config::FromClientConfig,
    consumer::{BaseConsumer, CommitMode, Consumer, StreamConsumer},
    error::KafkaResult,
    producer::{FutureProducer, FutureRecord},
};

use crate::{
    process::FerryProcess,
    tls_proxy::{TestCa, TlsProxy},
};

/// One record read back from a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub value: Vec<u8>,
}

/// A running tansu broker, killed when dropped.
pub struct TestKafka {
    /// The port clients use: the broker's own, or its TLS proxy's.
    pub port: u16,
    /// The port tansu listens on.
    listener_port: u16,
    tls: Option<BrokerTls>,
    process: Option<FerryProcess>,
    dir: tempfile::TempDir,
}

/// The TLS front of a broker started with [`TestKafka::start_tls`].
struct BrokerTls {
    ca_pem: String,
    _proxy: TlsProxy,
}

impl TestKafka {
    /// Starts a broker on a free port and waits until it accepts connections.
    pub async fn start() -> Self {
        let port = free_port();
        Self::start_on(port, port, None).await
    }

    /// Starts a broker that clients reach only over TLS, with a server
    /// certificate signed by `ca`. Its client config trusts `ca`.
    pub async fn start_tls(ca: &TestCa) -> Self {
        let port = free_port();
        let listener_port = free_port();
        let proxy = TlsProxy::start(
            ca,
            ([127, 0, 0, 1], port).into(),
            ([127, 0, 0, 1], listener_port).into(),
        );
        let tls = BrokerTls {
            ca_pem: ca.pem.clone(),
            _proxy: proxy,
        };
        Self::start_on(port, listener_port, Some(tls)).await
    }

    async fn start_on(port: u16, listener_port: u16, tls: Option<BrokerTls>) -> Self {
        let dir = tempfile::tempdir().expect("temp dir for tansu");
        let mut kafka = Self {
            port,
            listener_port,
            tls,
            process: None,
            dir,
        };
        kafka.restart().await;
        kafka
    }

    /// The PEM of the CA a TLS broker's certificate is signed by.
    pub fn ca_pem(&self) -> Option<&str> {
        self.tls.as_ref().map(|t| t.ca_pem.as_str())
    }

    /// The body that registers this broker through `POST /api/v1/clusters`,
    /// trusting its CA when it is reached over TLS.
    pub fn registration(&self, name: &str) -> serde_json::Value {
        let mut body = serde_json::json!({ "name": name, "kind": "kafka", "bootstrapServers": self.bootstrap() });
        if let Some(ca) = self.ca_pem() {
            body["tls"] = serde_json::json!({ "enabled": true, "caPem": ca });
        }
        body
    }

    /// `127.0.0.1:PORT`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Kills the broker (its in-memory topics are lost with it).
    pub fn stop(&mut self) {
        if let Some(mut p) = self.process.take() {
            p.kill();
        }
    }

    /// Freezes the broker (SIGSTOP): connections stay open but nothing is
    /// answered, so a client's request hangs mid-flight until [`Self::thaw`].
    pub fn freeze(&mut self) {
        if let Some(p) = self.process.as_mut() {
            p.signal(libc::SIGSTOP);
        }
    }

    /// Lets a frozen broker run again (SIGCONT).
    pub fn thaw(&mut self) {
        if let Some(p) = self.process.as_mut() {
            p.signal(libc::SIGCONT);
        }
    }

    /// Starts the broker again on the same port.
    pub async fn restart(&mut self) {
        self.stop();
        let listener = format!("tcp://127.0.0.1:{}", self.listener_port);
        let advertised = format!("tcp://127.0.0.1:{}", self.port);
        let process = FerryProcess::spawn(
            "tansu",
            &tansu_binary(),
            &[
                "broker",
                "--listener-url",
                &listener,
                "--advertised-listener-url",
                &advertised,
                "--storage-engine",
                "memory://tansu/",
            ],
            &[],
            self.dir.path(),
        );
        self.process = Some(process);
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.listener_port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "tansu did not start: {}",
                self.tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn tail(&self) -> String {
        self.process
            .as_ref()
            .map(FerryProcess::tail)
            .unwrap_or_default()
    }

    /// What an rdkafka client needs to reach this broker (its address, and
    /// its CA when it is reached over TLS), quiet below errors; the caller
    /// adds its own timeouts and roles.
    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", self.bootstrap())
            .set("log_level", "3");
        if let Some(tls) = &self.tls {
            config
                .set("security.protocol", "ssl")
                .set("ssl.ca.pem", tls.ca_pem.clone());
        }
        config
    }

    /// Any rdkafka client (admin, producer, consumer) made from
    /// [`TestKafka::client_config`].
    pub fn client<T: FromClientConfig>(&self) -> KafkaResult<T> {
        self.client_config().create()
    }

    /// Produces `n` records to one partition, each acknowledged before the
    /// next, so that each is its own batch (tansu counts a batch as one
    /// offset) and offsets are exact.
    pub async fn produce_one_by_one(&self, topic: &str, partition: i32, n: usize) {
        let producer: FutureProducer = self
            .config()
            .set("message.timeout.ms", "10000")
            .set("linger.ms", "0")
            .create()
            .expect("producer");
        for i in 0..n {
            let payload = format!("record-{i}");
            producer
                .send(
                    FutureRecord::<(), str>::to(topic)
                        .partition(partition)
                        .payload(&payload),
                    Duration::from_secs(10),
                )
                .await
                .map_err(|(e, _)| e)
                .expect("record acknowledged");
        }
    }

    /// A member of `group` that has consumed `n` records of `topic` (one
    /// partition) and committed them; it stays in the group until dropped.
    pub async fn consume_and_commit(
        &self,
        group: &str,
        client_id: &str,
        topic: &str,
        n: usize,
    ) -> StreamConsumer {
        let consumer: StreamConsumer = self
            .config()
            .set("group.id", group)
            .set("client.id", client_id)
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .set("session.timeout.ms", "30000")
            .create()
            .expect("consumer");
        consumer.subscribe(&[topic]).expect("subscribe");
        let mut last = None;
        for _ in 0..n {
            let message = tokio::time::timeout(Duration::from_secs(60), consumer.recv())
                .await
                .expect("a record within 60 s")
                .expect("a record");
            last = Some((message.partition(), message.offset()));
        }
        let (partition, offset) = last.expect("consumed something");
        let mut offsets = TopicPartitionList::new();
        offsets
            .add_partition_offset(topic, partition, Offset::Offset(offset + 1))
            .expect("offset");
        consumer
            .commit(&offsets, CommitMode::Sync)
            .expect("offsets committed");
        consumer
    }

    /// The harness's own clients: a request fails after 10 s, so that a test
    /// shows a broker that does not answer.
    fn config(&self) -> ClientConfig {
        let mut config = self.client_config();
        config.set("socket.timeout.ms", "10000");
        config
    }

    pub fn admin(&self) -> AdminClient<DefaultClientContext> {
        self.config().create().expect("admin client")
    }

    /// Partition count of every topic the broker reports, by name.
    pub async fn topics(&self) -> Vec<(String, usize)> {
        let admin = self.admin();
        tokio::task::spawn_blocking(move || {
            let md = admin
                .inner()
                .fetch_metadata(None, Duration::from_secs(10))
                .expect("metadata from tansu");
            md.topics()
                .iter()
                .map(|t| (t.name().to_owned(), t.partitions().len()))
                .collect()
        })
        .await
        .expect("metadata task")
    }

    pub async fn partitions_of(&self, topic: &str) -> Option<usize> {
        self.topics()
            .await
            .into_iter()
            .find(|(n, _)| n == topic)
            .map(|(_, p)| p)
    }

    /// Creates a topic directly, without ferry.
    pub async fn create_topic(&self, name: &str, partitions: i32) {
        let results = self
            .admin()
            .create_topics(
                &[NewTopic::new(name, partitions, TopicReplication::Fixed(1))],
                &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
            )
            .await
            .expect("CreateTopics");
        assert!(
            results[0].is_ok(),
            "creating {name} directly failed: {:?}",
            results[0]
        );
    }

    /// Produces one record and waits for its acknowledgement.
    pub async fn produce(&self, topic: &str, payload: &str) -> Result<(), String> {
        let producer: FutureProducer = self
            .config()
            .set("message.timeout.ms", "10000")
            .create()
            .map_err(|e| e.to_string())?;
        producer
            .send(
                FutureRecord::<(), str>::to(topic).payload(payload),
                Duration::from_secs(10),
            )
            .await
            .map(|_| ())
            .map_err(|(e, _)| e.to_string())
    }
}

impl TestKafka {
    /// Every record of every partition of `topic`, read from the beginning
    /// until at least `count` have arrived or `timeout` has passed (then
    /// whatever arrived), in arrival order (offset order per partition).
    pub async fn consume_all(&self, topic: &str, count: usize, timeout: Duration) -> Vec<Record> {
        self.consume_until(topic, timeout, move |records| records.len() >= count)
            .await
    }

    /// Reads every partition of `topic` from the beginning until `done`
    /// accepts the records read so far or `timeout` has passed; returns what
    /// was read either way. `done` is asked whenever the topic is idle for a
    /// moment, so it may be as slow as a full check of the records.
    pub async fn consume_until(
        &self,
        topic: &str,
        timeout: Duration,
        done: impl Fn(&[Record]) -> bool + Send + 'static,
    ) -> Vec<Record> {
        let config = self.config();
        let topic = topic.to_owned();
        tokio::task::spawn_blocking(move || consume_blocking(config, &topic, timeout, done))
            .await
            .expect("consumer task")
    }
}

fn consume_blocking(
    mut config: ClientConfig,
    topic: &str,
    timeout: Duration,
    done: impl Fn(&[Record]) -> bool,
) -> Vec<Record> {
    let deadline = Instant::now() + timeout;
    let consumer: BaseConsumer = config
        .set(
            "group.id",
            format!("ferry-tests-{}", uuid::Uuid::new_v4().simple()),
        )
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", "100")
        .create()
        .expect("consumer");
    // The topic may not exist yet, or not report its partitions yet.
    let partitions = loop {
        let count = consumer
            .fetch_metadata(Some(topic), Duration::from_secs(5))
            .ok()
            .and_then(|md| {
                md.topics()
                    .iter()
                    .find(|t| t.name() == topic && t.error().is_none())
                    .map(|t| t.partitions().len())
            })
            .unwrap_or(0);
        if count > 0 {
            break count;
        }
        if Instant::now() >= deadline {
            return Vec::new();
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let mut assignment = TopicPartitionList::new();
    for partition in 0..partitions as i32 {
        assignment
            .add_partition_offset(topic, partition, Offset::Beginning)
            .expect("partition offset");
    }
    consumer
        .assign(&assignment)
        .expect("assign every partition");
    let mut records = Vec::new();
    let mut unchecked = 0usize;
    loop {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(message)) => {
                records.push(Record {
                    partition: message.partition(),
                    offset: message.offset(),
                    key: message.key().map(<[u8]>::to_vec),
                    value: message.payload().map(<[u8]>::to_vec).unwrap_or_default(),
                });
                unchecked += 1;
                // A busy topic is never idle: check now and then anyway.
                if unchecked >= 200 {
                    unchecked = 0;
                    if done(&records) {
                        return records;
                    }
                }
            }
            // End-of-partition and transient errors: keep reading.
            Some(Err(_)) => {}
            None => {
                unchecked = 0;
                if done(&records) {
                    return records;
                }
            }
        }
        if Instant::now() >= deadline {
            return records;
        }
    }
}

impl Drop for TestKafka {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr").port()
}

/// `tansu` on PATH, else where `cargo install` puts it.
fn tansu_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("tansu"))
            .find(|candidate| candidate.is_file())
    }) {
        return path;
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    let fallback = home.join(".cargo/bin/tansu");
    assert!(
        fallback.is_file(),
        "tansu is not installed: run scripts/test (it installs it) or `cargo install tansu --locked --version 0.6.0 --features dynostore`"
    );
    fallback
}
