//! ferry's own connection to a Kafka broker, for the requests librdkafka
//! does not offer or refuses to send: the `kafka-protocol` crate encodes and
//! decodes the messages, `connection.rs` frames them over TCP or TLS
//! (rustls, `tls.rs`) and logs in with SASL PLAIN or SCRAM (rsasl), with the
//! same cluster settings librdkafka gets. The reads the API makes this way
//! are here (`reassignments.rs`); the changes, like every change, are the
//! worker's (`ferry-worker`'s `kafka::wire`).

use std::time::Duration;

use kafka_protocol::error::ResponseError;
use secrecy::SecretString;

use crate::clusters::{ClusterSettings, Tls};

mod connection;
pub mod reassignments;
mod tls;

pub use connection::Connection;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clusters::Sasl;

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
