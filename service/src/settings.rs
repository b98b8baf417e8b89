//! Typed settings: built-in defaults, then an optional config file
//! (`--config PATH`, TOML), then `FERRY_*` environment variables. Nested keys
//! use a double underscore: `FERRY_WORKER__CONCURRENCY=16`.

use std::path::Path;

use config::{Config, Environment, File, FileFormat};
use secrecy::SecretString;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// `sqlite://ferry.db?mode=rwc` (default), `postgres://...` or `mysql://...`.
    pub database_url: String,
    /// Connections each process may open to the metadata store; on
    /// PostgreSQL a worker opens two more, its own for claims and outcomes
    /// (`Store::queue_db`). Keep the sum over all API and worker processes
    /// under the server's limit (PostgreSQL's `max_connections`, 100 by
    /// default).
    pub database_max_connections: u32,
    /// Where the HTTP API listens.
    pub listen: String,
    /// The bootstrap admin token. When unset and no admin token exists yet,
    /// the API generates one and prints it once.
    pub admin_token: Option<SecretString>,
    /// Key for encrypting secrets at rest: 32 bytes, base64 or hex.
    pub secret_key: Option<SecretString>,
    /// The key before `secret_key`, while rotating: secrets it sealed are
    /// read and re-sealed with `secret_key` at start.
    pub secret_key_previous: Option<SecretString>,
    pub log_format: LogFormat,
    pub worker: WorkerSettings,
    pub api: ApiSettings,
    pub changefeed: ChangefeedSettings,
    pub rate_limit: RateLimitSettings,
    pub stats: StatsSettings,
    pub confluent: ConfluentSettings,
}

/// Statistics over time (`stats`): how often the workers sample each
/// registered Kafka cluster.
#[derive(Debug, Clone, Deserialize)]
pub struct StatsSettings {
    /// Seconds between two samples of a cluster; the step of the finest
    /// statistics. Values under 5 are taken as 5.
    pub interval_seconds: u64,
    /// How long a worker's hold on sampling a cluster lasts without
    /// renewal; a dead worker's clusters move to another within this time.
    pub lease_seconds: u64,
}

impl StatsSettings {
    /// The shortest interval a sampler runs at.
    pub const MIN_INTERVAL_SECONDS: u64 = 5;

    pub fn interval(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.interval_seconds.max(Self::MIN_INTERVAL_SECONDS))
    }
}

/// Requests per token: a steady rate and a burst above it (a token bucket).
/// A token's own override (set when it is minted) wins over these.
#[derive(Debug, Clone, Deserialize)]
pub struct RateLimitSettings {
    pub per_second: u32,
    pub burst: u32,
    /// Whether global admin tokens are limited too (off: operators and
    /// automation with the admin token are not slowed down).
    pub global_admins: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ChangefeedSettings {
    /// How long a worker's hold on a changefeed lasts without renewal; a dead
    /// worker's changefeeds move to another within this time.
    pub lease_seconds: u64,
    /// A changefeed failing for longer than this becomes Failed.
    pub failed_after_seconds: u64,
    /// Most changefeeds one worker process runs.
    pub max_per_worker: usize,
    /// Hosts a project's changefeed may name as its downstream by `ip`
    /// (global admins may name any); comma-separated in
    /// `FERRY_CHANGEFEED__DOWNSTREAM_HOSTS`.
    pub downstream_hosts: Vec<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Pretty,
}

#[derive(Debug, Clone, Deserialize)]
pub struct WorkerSettings {
    /// A name for this worker process; defaults to `<host>-<pid>-<random>`.
    pub name: Option<String>,
    /// Tasks one worker process runs at once.
    pub concurrency: usize,
    /// On SIGTERM, how long in-flight tasks may take to finish before the
    /// process exits and leaves them to another worker.
    pub drain_seconds: u64,
    /// How often a worker proves it is alive to the queue.
    pub heartbeat_seconds: u64,
    /// Missed heartbeats after which a worker's tasks are handed to others.
    pub missed_heartbeats: usize,
    /// How often an idle worker polls the queue for new tasks.
    pub poll_ms: u64,
    /// First retry delay; each further retry doubles it up to `backoff_max_ms`.
    pub backoff_initial_ms: u64,
    pub backoff_max_ms: u64,
    /// Most topics created by one CreateTopics request.
    pub topic_batch_size: usize,
    /// How long a batch waits for more topic tasks after its first.
    pub topic_batch_linger_ms: u64,
    /// How long a new topic may take to get a leader for every partition.
    pub topic_writable_timeout_seconds: u64,
    /// How often a watched changeset is compared with its cluster.
    pub drift_interval_seconds: u64,
}

/// The Confluent REST Proxy dialect.
#[derive(Debug, Clone, Deserialize)]
pub struct ConfluentSettings {
    /// The Kafka cluster REST Proxy v2's routes act on, whose paths name
    /// none: a registered cluster's id, name or UUID
    /// (`FERRY_CONFLUENT__V2_CLUSTER`). Unset, a project token acts on its
    /// project's one Kafka cluster and a global token on the only
    /// registered one.
    pub v2_cluster: Option<String>,
    /// How long a v2 consumer instance may go without a call before it is
    /// removed (the REST Proxy's `consumer.instance.timeout.ms`).
    pub consumer_instance_timeout_ms: u64,
    /// The longest a v2 `records` call waits for records, unless the
    /// instance or the call asks for less (`consumer.request.timeout.ms`).
    pub consumer_request_timeout_ms: u64,
    /// The most key and value bytes one v2 `records` answer holds
    /// (`consumer.request.max.bytes`).
    pub consumer_request_max_bytes: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ApiSettings {
    /// Largest page any list route returns. A request may ask for up to
    /// 500 rows (the API document's `pageSize` maximum); a lower setting
    /// answers smaller pages rather than refusing what the document allows.
    pub max_page_size: u64,
    /// How long a synchronous-looking call (TiEM, Confluent) waits for its
    /// task before answering anyway.
    pub task_wait_ms: u64,
    /// The largest request body accepted; a larger one gets 413 before it
    /// is read.
    pub max_body_bytes: u64,
    /// The address other `ferry-api` processes reach this one at, for the
    /// v2 consumer calls they forward to it (`FERRY_API__ADVERTISED_URL`).
    /// Unset: `http://` and the address it listens on, which serves
    /// processes on the same host (or a listen address that is not a
    /// wildcard).
    pub advertised_url: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("invalid settings: {0}")]
pub struct SettingsError(#[from] config::ConfigError);

impl Settings {
    /// Loads the settings from defaults, an optional file and the environment.
    pub fn load(config_file: Option<&Path>) -> Result<Self, SettingsError> {
        let mut builder = Config::builder().add_source(File::from_str(DEFAULTS, FileFormat::Toml));
        if let Some(path) = config_file {
            builder = builder.add_source(File::from(path).required(true));
        }
        let settings = builder
            .add_source(
                Environment::with_prefix("FERRY")
                    .prefix_separator("_")
                    .separator("__")
                    .list_separator(",")
                    .with_list_parse_key("changefeed.downstream_hosts")
                    .try_parsing(true),
            )
            .build()?
            .try_deserialize()?;
        Ok(settings)
    }

    /// Whether the metadata store is the embedded SQLite default.
    pub fn is_sqlite(&self) -> bool {
        self.database_url.starts_with("sqlite:")
    }
}

const DEFAULTS: &str = r#"
database_url = "sqlite://ferry.db?mode=rwc"
database_max_connections = 10
listen = "127.0.0.1:4116"
log_format = "pretty"

[worker]
concurrency = 64
drain_seconds = 30
heartbeat_seconds = 5
missed_heartbeats = 3
poll_ms = 100
backoff_initial_ms = 500
backoff_max_ms = 30000
topic_batch_size = 100
topic_batch_linger_ms = 20
topic_writable_timeout_seconds = 30
drift_interval_seconds = 60

[api]
max_page_size = 500
task_wait_ms = 10000
max_body_bytes = 4194304

[changefeed]
lease_seconds = 10
failed_after_seconds = 1800
max_per_worker = 64
downstream_hosts = []

[stats]
interval_seconds = 60
lease_seconds = 15

[confluent]
consumer_instance_timeout_ms = 300000
consumer_request_timeout_ms = 1000
consumer_request_max_bytes = 67108864

[rate_limit]
per_second = 100
burst = 200
global_admins = false
"#;
