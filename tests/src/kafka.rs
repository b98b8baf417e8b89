//! A real Kafka-protocol broker for tests: tansu with in-memory storage on a
//! free loopback port, plus an rdkafka client to check what ferry did.
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
    ClientConfig,
    admin::{AdminClient, AdminOptions, NewTopic, TopicReplication},
    client::DefaultClientContext,
    producer::{FutureProducer, FutureRecord},
};

use crate::process::FerryProcess;

/// A running tansu broker, killed when dropped.
pub struct TestKafka {
    pub port: u16,
    process: Option<FerryProcess>,
    dir: tempfile::TempDir,
}

impl TestKafka {
    /// Starts a broker on a free port and waits until it accepts connections.
    pub async fn start() -> Self {
        let port = free_port();
        let dir = tempfile::tempdir().expect("temp dir for tansu");
        let mut kafka = Self {
            port,
            process: None,
            dir,
        };
        kafka.restart().await;
        kafka
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
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let process = FerryProcess::spawn(
            "tansu",
            &tansu_binary(),
            &[
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
                "--storage-engine",
                "memory://tansu/",
            ],
            &[],
            self.dir.path(),
        );
        self.process = Some(process);
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
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

    fn config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", self.bootstrap())
            .set("socket.timeout.ms", "10000")
            .set("log_level", "3");
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
