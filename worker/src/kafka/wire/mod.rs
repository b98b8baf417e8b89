//! Kafka requests that librdkafka refuses to send or does not offer, made
//! over a connection of ferry's own: IncrementalAlterConfigs of the
//! cluster-wide default broker resource (type BROKER, empty name),
//! DescribeLogDirs for the statistics sampler (`log_dirs.rs`), and
//! CreateAcls, whose malformed answers abort a librdkafka process
//! (`acls.rs`). librdkafka
//! insists on an integer broker id for every BROKER resource (its
//! `rd_kafka_ConfigResource_get_single_broker_id`), so the cluster-wide
//! defaults Confluent's `/broker-configs` routes change cannot go through
//! it; DescribeLogDirs it does not implement at all.
//!
//! The `kafka-protocol` crate encodes and decodes the messages;
//! `connection.rs` frames them over TCP or TLS (rustls) and logs in with
//! SASL PLAIN or SCRAM (rsasl), with the same cluster settings librdkafka
//! gets. Any broker will do: Kafka forwards a cluster-wide change to its
//! controller (or writes it to ZooKeeper) itself, as the Java admin client
//! relies on when it sends this request to the least loaded broker.

use std::time::Duration;

use kafka_protocol::{
    error::{ParseResponseErrorCode, ResponseError},
    messages::{
        ApiKey, IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse,
        incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig},
    },
    protocol::StrBytes,
};
use secrecy::SecretString;

use super::admin::{ConfigOp, ConfigOpKind};
use ferry_service::clusters::{ClusterSettings, Tls};

pub mod acls;
mod connection;
pub mod log_dirs;
mod tls;

use connection::Connection;

/// Kafka's resource type of a broker.
const RESOURCE_BROKER: i8 = 4;
/// IncrementalAlterConfigs versions ferry speaks (v1 is the flexible one).
const ALTER_VERSIONS: (i16, i16) = (0, 1);

/// Where and how to connect: a registered cluster's settings and secret.
#[derive(Clone)]
pub struct WireTarget {
    pub bootstrap: Vec<String>,
    pub tls: Option<Tls>,
    pub sasl: Option<SaslLogin>,
}

#[derive(Clone)]
pub struct SaslLogin {
    pub mechanism: String,
    pub username: String,
    pub password: SecretString,
}

impl WireTarget {
    pub fn new(settings: &ClusterSettings, sasl_password: Option<&SecretString>) -> Self {
        Self {
            bootstrap: settings
                .bootstrap_servers
                .as_deref()
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            tls: settings.tls.clone().filter(|t| t.enabled),
            sasl: settings.sasl.as_ref().map(|s| SaslLogin {
                mechanism: s.mechanism.clone(),
                username: s.username.clone(),
                password: sasl_password
                    .cloned()
                    .unwrap_or_else(|| String::new().into()),
            }),
        }
    }
}

/// Why a request over ferry's own connection failed.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("cannot reach the broker at {address}: {reason}")]
    Connect { address: String, reason: String },
    #[error("{0}")]
    Config(String),
    #[error("SASL login to {address} failed: {reason}")]
    Login { address: String, reason: String },
    #[error("the broker at {address} does not support {what}")]
    Unsupported { address: String, what: String },
    #[error("unexpected answer from {address}: {reason}")]
    Protocol { address: String, reason: String },
    #[error("the broker refused the change: {error}{}", detail(.message))]
    Broker {
        error: ResponseError,
        message: Option<String>,
    },
    #[error("the cluster did not answer within {0:?}")]
    Timeout(Duration),
}

fn detail(message: &Option<String>) -> String {
    match message.as_deref() {
        Some(m) if !m.is_empty() => format!(" ({m})"),
        _ => String::new(),
    }
}

impl WireError {
    /// Whether trying again later can help: a broker that could not be
    /// reached or timed out, or an error code Kafka calls retriable.
    pub fn is_retryable(&self) -> bool {
        match self {
            WireError::Connect { .. } | WireError::Timeout(_) => true,
            WireError::Broker { error, .. } => error.is_retriable(),
            WireError::Config(_)
            | WireError::Login { .. }
            | WireError::Unsupported { .. }
            | WireError::Protocol { .. } => false,
        }
    }
}

/// Sets or resets cluster-wide default broker configs, all in one request;
/// with `validate_only` the broker checks them and changes nothing.
pub async fn alter_cluster_default(
    target: &WireTarget,
    ops: &[ConfigOp],
    validate_only: bool,
    timeout: Duration,
) -> Result<(), WireError> {
    let call = async {
        let conn = Connection::open(target).await?;
        alter(conn, ops, validate_only).await
    };
    tokio::time::timeout(timeout, call)
        .await
        .unwrap_or(Err(WireError::Timeout(timeout)))
}

/// [`alter_cluster_default`]'s conversation with whatever answers on
/// `stream` (the `kafka_wire` fuzz target's made-up broker), logging in
/// with `sasl`.
pub(crate) async fn alter_cluster_default_over(
    stream: impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    sasl: Option<&SaslLogin>,
    ops: &[ConfigOp],
    validate_only: bool,
) -> Result<(), WireError> {
    let conn = Connection::over("broker:9092", Box::new(stream), sasl).await?;
    alter(conn, ops, validate_only).await
}

async fn alter(
    mut conn: Connection,
    ops: &[ConfigOp],
    validate_only: bool,
) -> Result<(), WireError> {
    let request = IncrementalAlterConfigsRequest::default()
        .with_resources(vec![
            AlterConfigsResource::default()
                .with_resource_type(RESOURCE_BROKER)
                .with_resource_name(StrBytes::default())
                .with_configs(ops.iter().map(alterable).collect()),
        ])
        .with_validate_only(validate_only);
    let version = conn.negotiate(ApiKey::IncrementalAlterConfigs, ALTER_VERSIONS)?;
    let response: IncrementalAlterConfigsResponse = conn
        .call(ApiKey::IncrementalAlterConfigs, version, &request)
        .await?;
    match response.responses.first() {
        None => Err(conn.protocol_error("no result for the resource")),
        Some(result) => match result.error_code.err() {
            None => Ok(()),
            Some(error) => Err(WireError::Broker {
                error,
                message: result.error_message.as_ref().map(|m| m.to_string()),
            }),
        },
    }
}

fn alterable(op: &ConfigOp) -> AlterableConfig {
    // Kafka's operation codes: 0 SET, 1 DELETE (APPEND and SUBTRACT unused).
    let operation = match op.operation {
        ConfigOpKind::Set => 0,
        ConfigOpKind::Delete => 1,
    };
    AlterableConfig::default()
        .with_name(StrBytes::from_string(op.name.clone()))
        .with_config_operation(operation)
        .with_value(op.value.clone().map(StrBytes::from_string))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_service::clusters::Sasl;

    #[test]
    fn a_target_takes_every_bootstrap_server_and_the_sasl_login() {
        let settings = ClusterSettings {
            bootstrap_servers: Some(" kafka-1:9092, kafka-2:9092 ,".into()),
            sasl: Some(Sasl {
                mechanism: "SCRAM-SHA-512".into(),
                username: "ferry".into(),
            }),
            tls: Some(Tls {
                enabled: false,
                ..Tls::default()
            }),
            ..ClusterSettings::default()
        };
        let target = WireTarget::new(&settings, Some(&SecretString::from("pw")));
        assert_eq!(target.bootstrap, ["kafka-1:9092", "kafka-2:9092"]);
        assert!(target.tls.is_none(), "disabled TLS is no TLS");
        let login = target.sasl.expect("sasl");
        assert_eq!(login.mechanism, "SCRAM-SHA-512");
        assert_eq!(secrecy::ExposeSecret::expose_secret(&login.password), "pw");
    }

    #[test]
    fn set_and_delete_use_kafkas_operation_codes() {
        let set = alterable(&ConfigOp {
            name: "log.retention.ms".into(),
            value: Some("1000".into()),
            sealed: None,
            operation: ConfigOpKind::Set,
        });
        assert_eq!(set.config_operation, 0);
        assert_eq!(set.value.as_deref(), Some("1000"));
        let delete = alterable(&ConfigOp {
            name: "log.retention.ms".into(),
            value: None,
            sealed: None,
            operation: ConfigOpKind::Delete,
        });
        assert_eq!(delete.config_operation, 1);
        assert!(delete.value.is_none());
    }

    #[test]
    fn only_transient_failures_are_retried() {
        let unreachable = WireError::Connect {
            address: "a:1".into(),
            reason: "refused".into(),
        };
        assert!(unreachable.is_retryable());
        assert!(WireError::Timeout(Duration::from_secs(1)).is_retryable());
        let not_controller = WireError::Broker {
            error: ResponseError::NotController,
            message: None,
        };
        assert!(not_controller.is_retryable());
        let invalid = WireError::Broker {
            error: ResponseError::InvalidRequest,
            message: Some("Cannot update these configs at default cluster level".into()),
        };
        assert!(!invalid.is_retryable());
        assert!(invalid.to_string().contains("default cluster level"));
        let login = WireError::Login {
            address: "a:1".into(),
            reason: "bad password".into(),
        };
        assert!(!login.is_retryable());
    }
}
