//! Kafka access through rdkafka's admin client: one client per registered
//! cluster, created on first use, reused, and rebuilt when the cluster's
//! settings change or dropped when it is removed.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use rdkafka::{
    ClientConfig,
    admin::AdminClient,
    client::DefaultClientContext,
    error::{KafkaError, RDKafkaErrorCode},
    producer::FutureProducer,
};
use secrecy::ExposeSecret;

use self::broker_errors::BrokerErrors;
use ferry_entity::{ClusterId, ClusterKind, payload::KafkaAddress};

use crate::{
    clusters::{self, ClusterConnection},
    error::ServiceError,
    schema_registry::SchemaRegistry,
    store::Store,
};

pub mod admin;
pub mod broker_default_config;
pub mod broker_errors;
pub mod metadata;
pub mod placement;
pub mod produce;
pub mod reachability;
pub mod topic_config;
pub mod wire;

pub type Admin = AdminClient<DefaultClientContext>;

/// A live client for one cluster.
pub struct KafkaCluster {
    /// The registered cluster; `None` for brokers given by address.
    pub id: Option<ClusterId>,
    admin: Admin,
    broker_errors: BrokerErrors,
    /// The settings version the client was built from.
    version: chrono::DateTime<chrono::Utc>,
    /// The settings the admin client was built from, secrets included, for
    /// the producer built on first use. Never logged: `KafkaCluster` has no
    /// `Debug`.
    config: ClientConfig,
    /// The REST Proxy dialects' producer (`produce.rs`), built on first use.
    producer: tokio::sync::OnceCell<Arc<FutureProducer>>,
    /// Partition counts of recently produced-to topics (`produce.rs`);
    /// `None` for a topic the cluster does not have.
    partition_counts: moka::sync::Cache<String, Option<i32>>,
    /// The cluster's schema registry, when its registration names one.
    schema_registry: Option<Arc<SchemaRegistry>>,
    /// Whether it answered the last list's read (`reachability`).
    reachability: reachability::Reachability,
}

impl KafkaCluster {
    fn new(
        id: Option<ClusterId>,
        config: ClientConfig,
        version: chrono::DateTime<chrono::Utc>,
        schema_registry: Option<SchemaRegistry>,
    ) -> Result<Self, ServiceError> {
        let admin: Admin = config
            .create()
            .map_err(|e| ServiceError::invalid(format!("cannot build a Kafka client: {e}")))?;
        Ok(Self {
            id,
            admin,
            broker_errors: BrokerErrors::default(),
            version,
            config,
            producer: tokio::sync::OnceCell::new(),
            partition_counts: moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(produce::PARTITIONS_TTL)
                .build(),
            schema_registry: schema_registry.map(Arc::new),
            reachability: reachability::Reachability::default(),
        })
    }

    /// The cluster's schema registry, when its registration names one.
    pub fn schema_registry(&self) -> Option<&SchemaRegistry> {
        self.schema_registry.as_deref()
    }

    /// The cluster's producer, built on first use with the client's
    /// settings and `produce::producer_settings`.
    pub async fn producer(&self) -> Result<Arc<FutureProducer>, admin::AdminError> {
        self.producer
            .get_or_try_init(|| async {
                let mut config = self.config.clone();
                produce::producer_settings(&mut config);
                config
                    .create::<FutureProducer>()
                    .map(Arc::new)
                    .map_err(|e| {
                        admin::AdminError::Invalid(format!("cannot build a Kafka producer: {e}"))
                    })
            })
            .await
            .cloned()
    }

    /// The cluster's client settings, secrets included, for a consumer of
    /// its own (a REST Proxy v2 consumer instance, `consumers`).
    pub fn client_settings(&self) -> ClientConfig {
        self.config.clone()
    }

    /// The admin client, for the worker's mutating calls (CreateTopics,
    /// DeleteTopics, IncrementalAlterConfigs) and this module's reads. The
    /// API crate does not depend on rdkafka, so it cannot make such a call
    /// with it (`tests/tests/layering.rs`).
    pub fn admin(&self) -> &Admin {
        &self.admin
    }

    /// `error`, followed by the last error a broker connection reported
    /// (a refused certificate, say) when there is a recent one.
    pub fn explain(&self, error: impl std::fmt::Display) -> String {
        self.broker_errors.drain(self.admin.inner());
        match self.broker_errors.recent() {
            Some(reason) => format!("{error}; last broker error: {reason}"),
            None => error.to_string(),
        }
    }

    /// A client for brokers that are not in the registry (a changefeed's
    /// Kafka downstream given by address); it is not cached.
    pub fn unregistered(config: &ClientConfig) -> Result<KafkaCluster, ServiceError> {
        KafkaCluster::new(None, config.clone(), chrono::Utc::now(), None)
    }
}

/// How long the API uses a client without asking the registry whether its
/// cluster's settings changed: a produce or consume call would otherwise
/// read the store each time. The API process forgets a client when it
/// changes or removes the cluster itself; a change made through another
/// API process reaches this one within this time.
pub const API_REGISTRY_RECHECK: std::time::Duration = std::time::Duration::from_secs(1);

/// Each client, and when its registration was last read.
type ClientMap = HashMap<ClusterId, (Arc<KafkaCluster>, std::time::Instant)>;

/// The per-process cache of clients, shared by the API (read-only inspection)
/// and the worker (topic creation).
#[derive(Default, Clone)]
pub struct KafkaClients {
    clients: Arc<Mutex<ClientMap>>,
    /// How long a client is used before its registration is read again;
    /// zero (the worker's): at every use, so that a task never runs on
    /// settings older than its submission.
    recheck: std::time::Duration,
}

impl std::fmt::Debug for KafkaClients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KafkaClients")
    }
}

impl KafkaClients {
    /// Clients whose registration is read again only after `recheck`.
    pub fn rechecked_every(recheck: std::time::Duration) -> Self {
        Self {
            recheck,
            ..Self::default()
        }
    }

    /// The client for a cluster, built from its current registry entry.
    pub async fn get(
        &self,
        store: &Store,
        cluster_id: ClusterId,
    ) -> Result<Arc<KafkaCluster>, ServiceError> {
        if let Some((existing, checked)) = self.lock().get(&cluster_id)
            && checked.elapsed() < self.recheck
        {
            existing.broker_errors.drain(existing.admin.inner());
            return Ok(existing.clone());
        }
        let conn = clusters::connection(store, cluster_id).await?;
        if conn.model.kind != ClusterKind::Kafka {
            return Err(ServiceError::not_found(format!(
                "cluster {cluster_id} is not a kafka cluster"
            )));
        }
        let version = conn.model.updated_at;
        if let Some((existing, checked)) = self.lock().get_mut(&cluster_id)
            && existing.version == version
        {
            *checked = std::time::Instant::now();
            // Keeps the client's main queue short (see `broker_errors`).
            existing.broker_errors.drain(existing.admin.inner());
            return Ok(existing.clone());
        }
        let registry = conn
            .settings
            .schema_registry
            .as_ref()
            .map(|r| SchemaRegistry::new(r, conn.schema_registry_password.clone()));
        let cluster = Arc::new(KafkaCluster::new(
            Some(cluster_id),
            client_config(&conn),
            version,
            registry,
        )?);
        // A replaced client is dropped (and closed) once in-flight calls end.
        self.lock()
            .insert(cluster_id, (cluster.clone(), std::time::Instant::now()));
        Ok(cluster)
    }

    /// Drops the client of a removed cluster.
    pub fn forget(&self, cluster_id: ClusterId) {
        self.lock().remove(&cluster_id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ClientMap> {
        self.clients
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// librdkafka settings for a registered cluster, secrets included. The config
/// object is handed straight to librdkafka and never logged.
pub fn client_config(conn: &ClusterConnection) -> ClientConfig {
    config_for(
        &conn.settings,
        conn.sasl_password.as_ref().map(ExposeSecret::expose_secret),
    )
}

/// librdkafka settings from cluster settings, whether registered or given
/// inline (a changefeed's Kafka downstream by address).
pub fn config_for(s: &clusters::ClusterSettings, sasl_password: Option<&str>) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set(
            "bootstrap.servers",
            s.bootstrap_servers.clone().unwrap_or_default(),
        )
        .set("client.id", "ferry")
        .set("socket.timeout.ms", "10000")
        .set("metadata.max.age.ms", "5000")
        .set("topic.metadata.refresh.interval.ms", "1000")
        .set("log_level", "3");
    let tls = s.tls.as_ref().is_some_and(|t| t.enabled);
    let protocol = match (s.sasl.is_some(), tls) {
        (false, false) => "plaintext",
        (false, true) => "ssl",
        (true, false) => "sasl_plaintext",
        (true, true) => "sasl_ssl",
    };
    config.set("security.protocol", protocol);
    if let Some(sasl) = &s.sasl {
        config
            .set("sasl.mechanism", sasl.mechanism.clone())
            .set("sasl.username", sasl.username.clone());
        if let Some(pw) = sasl_password {
            config.set("sasl.password", pw);
        }
    }
    if let Some(t) = &s.tls {
        match &t.ca_pem {
            Some(ca) => config.set("ssl.ca.pem", ca.clone()),
            // librdkafka links its own OpenSSL, whose built-in CA path is
            // not the system's: look for the system's trust store instead,
            // so that brokers with publicly signed certificates verify.
            None => config.set("ssl.ca.location", "probe"),
        };
        if t.insecure_skip_verify {
            config.set("enable.ssl.certificate.verification", "false");
        }
    }
    config
}

/// librdkafka settings for brokers given by address.
pub fn address_config(address: &KafkaAddress) -> ClientConfig {
    let settings = clusters::ClusterSettings {
        bootstrap_servers: Some(address.bootstrap_servers.clone()),
        tls: Some(clusters::Tls {
            enabled: address.tls,
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut config = config_for(&settings, None);
    identify(
        &mut config,
        address.client_id.as_deref(),
        address.version.as_deref(),
    );
    config
}

/// Sets the client id the brokers log and, when given, the Kafka version to
/// assume for brokers too old to answer ApiVersions.
pub fn identify(config: &mut ClientConfig, client_id: Option<&str>, version: Option<&str>) {
    config.set("client.id", client_id.unwrap_or("ferry"));
    if let Some(version) = version {
        config.set("broker.version.fallback", version);
    }
}

/// Whether a config's value is a secret, by its name: passwords, secrets,
/// JAAS configs, key and trust stores (the configs Kafka itself types as
/// passwords all carry one of these words).
pub fn is_sensitive_config(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["password", "secret", "jaas", "keystore", "truststore"]
        .iter()
        .any(|word| name.contains(word))
}

/// Whether an error from Kafka can go away by itself (retry) or not.
pub fn is_transient(err: &KafkaError) -> bool {
    match err {
        // librdkafka refused the request before sending it (a partition
        // count out of its range, say): sending it again cannot help.
        KafkaError::ClientConfig(..)
        | KafkaError::ClientCreation(_)
        | KafkaError::AdminOpCreation(_) => false,
        // An admin request's own error code: rdkafka's `rdkafka_error_code`
        // answers `None` for it, which would make every refusal (a broker
        // without the feature, say) look transient.
        KafkaError::AdminOp(code) => is_transient_code(*code),
        other => other.rdkafka_error_code().is_none_or(is_transient_code),
    }
}

/// Error codes that say "try again later" rather than "this will never work".
pub fn is_transient_code(code: RDKafkaErrorCode) -> bool {
    use RDKafkaErrorCode::*;
    matches!(
        code,
        BrokerTransportFailure
            | AllBrokersDown
            | OperationTimedOut
            | RequestTimedOut
            | NotController
            | LeaderNotAvailable
            | NotLeaderForPartition
            | NetworkException
            | BrokerNotAvailable
            | CoordinatorNotAvailable
            | CoordinatorLoadInProgress
            | NotCoordinator
            | Resolve
            | UnknownTopicOrPartition
            | ThrottlingQuotaExceeded
            | KafkaStorageError
            | NotEnoughReplicas
            | BrokerDestroy
            | TimedOutQueue
    )
}

/// How long read-only calls (listing, queryCanWrite) may take before the
/// caller gets an answer saying the cluster did not respond.
pub const INSPECT_TIMEOUT: Duration = Duration::from_secs(3);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_requests_are_not_retried() {
        assert!(!is_transient(&KafkaError::AdminOpCreation(
            "num_partitions out of expected range".into()
        )));
        assert!(!is_transient(&KafkaError::AdminOp(
            RDKafkaErrorCode::UnsupportedFeature
        )));
        assert!(is_transient(&KafkaError::AdminOp(
            RDKafkaErrorCode::OperationTimedOut
        )));
        for code in [
            RDKafkaErrorCode::InvalidPartitions,
            RDKafkaErrorCode::InvalidReplicationFactor,
            RDKafkaErrorCode::InvalidConfig,
            RDKafkaErrorCode::PolicyViolation,
            RDKafkaErrorCode::TopicAuthorizationFailed,
            RDKafkaErrorCode::ClusterAuthorizationFailed,
        ] {
            assert!(!is_transient_code(code), "{code:?}");
        }
        assert!(is_transient_code(RDKafkaErrorCode::BrokerTransportFailure));
    }
}
