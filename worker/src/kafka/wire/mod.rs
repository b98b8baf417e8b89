//! Kafka requests that librdkafka refuses to send or does not offer, made
//! over a connection of ferry's own: IncrementalAlterConfigs of the
//! cluster-wide default broker resource (type BROKER, empty name),
//! DescribeLogDirs for the statistics sampler (`log_dirs.rs`),
//! AlterPartitionReassignments (`reassign.rs`), and
//! CreateAcls, whose malformed answers abort a librdkafka process
//! (`acls.rs`). librdkafka
//! insists on an integer broker id for every BROKER resource (its
//! `rd_kafka_ConfigResource_get_single_broker_id`), so the cluster-wide
//! defaults Confluent's `/broker-configs` routes change cannot go through
//! it; DescribeLogDirs it does not implement at all.
//!
//! The `kafka-protocol` crate encodes and decodes the messages;
//! `ferry_service::kafka::wire` frames them over TCP or TLS (rustls) and
//! logs in with SASL PLAIN or SCRAM (rsasl), with the same cluster settings
//! librdkafka gets. Any broker will do: Kafka forwards a cluster-wide change to its
//! controller (or writes it to ZooKeeper) itself, as the Java admin client
//! relies on when it sends this request to the least loaded broker.

use std::time::Duration;

use kafka_protocol::{
    error::ParseResponseErrorCode,
    messages::{
        ApiKey, IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse,
        incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig},
    },
    protocol::StrBytes,
};

use super::admin::{ConfigOp, ConfigOpKind};

pub mod acls;
pub mod log_dirs;
pub mod reassign;

pub use ferry_service::kafka::wire::{Connection, SaslLogin, WireError, WireTarget};

/// Kafka's resource type of a broker.
const RESOURCE_BROKER: i8 = 4;
/// IncrementalAlterConfigs versions ferry speaks (v1 is the flexible one).
const ALTER_VERSIONS: (i16, i16) = (0, 1);

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
}
