//! Changing Kafka clusters: the calls that create, delete and reconfigure.
//! Topic creation and deletion use rdkafka's admin client (in the jobs that
//! make them); config changes are here: `alter_configs` sends
//! IncrementalAlterConfigs through librdkafka, or through `wire` for the
//! cluster-wide defaults librdkafka cannot address; `acls` sends DeleteAcls
//! through librdkafka, and `wire::acls` CreateAcls over ferry's own
//! connection. Nothing outside this
//! crate makes a mutating Kafka call: the API crate reads clusters through
//! `ferry-service`'s `kafka` module, which has none.

use std::{sync::Arc, time::Duration};

use ferry_entity::payload::{ConfigOp, ConfigResource};
use ferry_service::{
    clusters,
    kafka::{
        KafkaCluster,
        admin::{self, AdminError, ffi},
    },
    store::Store,
};
use rdkafka::error::RDKafkaErrorCode;

pub mod acls;
mod alter;
pub mod wire;

use wire::{WireError, WireTarget};

/// Why a config change failed: on librdkafka's path or on ferry's own
/// connection.
#[derive(Debug, thiserror::Error)]
pub enum AlterError {
    #[error(transparent)]
    Admin(#[from] AdminError),
    #[error(transparent)]
    Wire(#[from] WireError),
}

impl AlterError {
    /// Whether trying again later can help.
    pub fn is_retryable(&self) -> bool {
        match self {
            AlterError::Admin(err) => err.is_retryable(),
            AlterError::Wire(err) => err.is_retryable(),
        }
    }

    /// The Kafka error code, when librdkafka reported one.
    pub fn code(&self) -> Option<RDKafkaErrorCode> {
        match self {
            AlterError::Admin(err) => err.code(),
            AlterError::Wire(_) => None,
        }
    }
}

/// Sets or resets configs of one resource. The cluster-wide defaults go
/// through `wire` with the registered cluster's settings.
pub async fn alter_configs(
    store: &Store,
    cluster: &Arc<KafkaCluster>,
    resource: ConfigResource,
    ops: Vec<ConfigOp>,
    timeout: Duration,
) -> Result<(), AlterError> {
    if resource == ConfigResource::ClusterDefault {
        let Some(id) = cluster.id else {
            return Err(AdminError::Invalid(
                "cluster-wide configs need a registered cluster".into(),
            )
            .into());
        };
        let conn = clusters::connection(store, id)
            .await
            .map_err(|e| AdminError::Invalid(format!("cluster {id}: {}", e.detail())))?;
        let target = WireTarget::new(&conn.settings, conn.sasl_password.as_ref());
        wire::alter_cluster_default(&target, &ops, false, timeout).await?;
        return Ok(());
    }
    let cluster = cluster.clone();
    admin::blocking(timeout, move || {
        alter::incremental_alter_configs(
            cluster.admin().inner().native_ptr() as ffi::Rk,
            &resource,
            &ops,
            false,
            timeout,
        )
    })
    .await?;
    Ok(())
}
