//! IncrementalAlterConfigs through librdkafka's raw bindings (the `rdkafka`
//! crate has only the legacy AlterConfigs, which resets every config not
//! named and which tansu does not implement). It blocks for at most its
//! timeout; the caller runs it on tokio's blocking pool.

use std::{ptr, time::Duration};

use ferry_entity::payload::{ConfigOp, ConfigOpKind, ConfigResource};
use ferry_service::kafka::admin::{
    AdminError,
    ffi::{Guard, Rk, cstring, kafka_error, native_resource, request, resource_error, text},
};
use rdkafka::bindings as rd;

/// IncrementalAlterConfigs of one resource: every op is SET or DELETE (reset
/// to the default).
pub(super) fn incremental_alter_configs(
    rk: Rk,
    resource: &ConfigResource,
    ops: &[ConfigOp],
    validate_only: bool,
    timeout: Duration,
) -> Result<(), AdminError> {
    let (restype, name) = native_resource(resource)?;
    let mut native_ops = Vec::with_capacity(ops.len());
    for op in ops {
        let value = match (&op.operation, &op.value) {
            (ConfigOpKind::Set, Some(v)) => Some(cstring("config value", v)?),
            (ConfigOpKind::Set, None) => {
                return Err(AdminError::Invalid(format!(
                    "config `{}`: SET needs a value",
                    op.name
                )));
            }
            (ConfigOpKind::Delete, _) => None,
        };
        let kind = match op.operation {
            ConfigOpKind::Set => {
                rd::rd_kafka_AlterConfigOpType_t::RD_KAFKA_ALTER_CONFIG_OP_TYPE_SET
            }
            ConfigOpKind::Delete => {
                rd::rd_kafka_AlterConfigOpType_t::RD_KAFKA_ALTER_CONFIG_OP_TYPE_DELETE
            }
        };
        native_ops.push((cstring("config name", &op.name)?, kind, value));
    }
    // SAFETY: as in `describe_configs`; the CStrings outlive the calls that
    // read them, and librdkafka copies what it keeps.
    unsafe {
        let config = Guard::new(
            rd::rd_kafka_ConfigResource_new(restype, name.as_ptr()),
            rd::rd_kafka_ConfigResource_destroy,
        );
        for (name, kind, value) in &native_ops {
            let error = rd::rd_kafka_ConfigResource_add_incremental_config(
                config.ptr,
                name.as_ptr(),
                *kind,
                value.as_ref().map_or(ptr::null(), |v| v.as_ptr()),
            );
            if !error.is_null() {
                let error = Guard::new(error, rd::rd_kafka_error_destroy);
                return Err(kafka_error(
                    rd::rd_kafka_error_code(error.ptr),
                    text(rd::rd_kafka_error_string(error.ptr)),
                ));
            }
        }
        let mut configs = [config.ptr];
        let event = request(
            rk,
            rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_INCREMENTALALTERCONFIGS,
            timeout,
            validate_only,
            |options, queue| {
                rd::rd_kafka_IncrementalAlterConfigs(rk, configs.as_mut_ptr(), 1, options, queue)
            },
        )?;
        let result = rd::rd_kafka_event_IncrementalAlterConfigs_result(event.ptr);
        if result.is_null() {
            return Err(AdminError::Invalid(
                "IncrementalAlterConfigs returned no result".into(),
            ));
        }
        let mut count = 0;
        let resources = rd::rd_kafka_IncrementalAlterConfigs_result_resources(result, &mut count);
        for i in 0..count {
            if let Some(err) = resource_error(*resources.add(i)) {
                return Err(err);
            }
        }
        Ok(())
    }
}
