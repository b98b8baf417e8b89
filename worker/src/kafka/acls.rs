//! DeleteAcls through librdkafka's raw bindings (the `rdkafka` crate does
//! not wrap it), built on the ACL conversions and request helpers of
//! `ferry-service`'s `kafka::admin`; it blocks for at most its timeout and
//! runs on tokio's blocking pool. CreateAcls goes over ferry's own
//! connection instead (`wire::acls`, which says why).

use std::{sync::Arc, time::Duration};

use ferry_entity::acl::{AclBinding, AclFilter};
use ferry_service::kafka::{
    KafkaCluster,
    admin::{
        self, AdminError,
        acls::{native_filter, read_bindings},
        ffi::{Rk, kafka_error, request, text},
    },
};
use rdkafka::bindings as rd;

/// The error librdkafka reports in an `rd_kafka_error_t` it owns, if any.
///
/// # Safety
/// `error` is NULL or points to a live error of a live result event.
unsafe fn owned_error(error: *const rd::rd_kafka_error_t) -> Option<AdminError> {
    if error.is_null() {
        return None;
    }
    // SAFETY: guaranteed by the caller; the error stays the event's.
    unsafe {
        Some(kafka_error(
            rd::rd_kafka_error_code(error),
            text(rd::rd_kafka_error_string(error)),
        ))
    }
}

fn delete(rk: Rk, filter: &AclFilter, timeout: Duration) -> Result<Vec<AclBinding>, AdminError> {
    let native = native_filter(filter)?;
    let mut filters = [native.ptr];
    // SAFETY: `rk` is live for the call (the caller holds the client); the
    // filter outlives the request, which copies it; every pointer read
    // below belongs to `event`, which outlives the reads.
    unsafe {
        let event = request(
            rk,
            rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DELETEACLS,
            timeout,
            false,
            |options, queue| rd::rd_kafka_DeleteAcls(rk, filters.as_mut_ptr(), 1, options, queue),
        )?;
        let result = rd::rd_kafka_event_DeleteAcls_result(event.ptr);
        if result.is_null() {
            return Err(AdminError::Invalid("DeleteAcls returned no result".into()));
        }
        let mut count = 0;
        let responses = rd::rd_kafka_DeleteAcls_result_responses(result, &mut count);
        let mut deleted = Vec::new();
        for i in 0..count {
            let response = *responses.add(i);
            if let Some(err) = owned_error(rd::rd_kafka_DeleteAcls_result_response_error(response))
            {
                return Err(err);
            }
            let mut matched = 0;
            let acls =
                rd::rd_kafka_DeleteAcls_result_response_matching_acls(response, &mut matched);
            if !acls.is_null() {
                deleted.extend(read_bindings(acls.cast_const(), matched));
            }
        }
        Ok(deleted)
    }
}

/// Deletes the ACLs `filter` matches; returns those the broker deleted.
pub async fn delete_acls(
    cluster: &Arc<KafkaCluster>,
    filter: AclFilter,
    timeout: Duration,
) -> Result<Vec<AclBinding>, AdminError> {
    let cluster = cluster.clone();
    admin::blocking(timeout, move || {
        delete(cluster.admin().inner().native_ptr() as Rk, &filter, timeout)
    })
    .await
}
