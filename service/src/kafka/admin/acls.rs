//! Kafka ACLs through librdkafka's raw bindings (the `rdkafka` crate wraps
//! none of the ACL calls): DescribeAcls here, and the conversions between
//! ferry's typed ACLs (`ferry_entity::acl`) and librdkafka's objects, which
//! the worker's DeleteAcls (`ferry-worker`'s `kafka::acls`) uses too:
//! changing a cluster is the worker's alone, so that call lives there.
//!
//! librdkafka keeps every enum value of an ACL it reads within its own
//! enums (a value it does not know, such as a `DELEGATION_TOKEN` resource,
//! becomes `UNKNOWN`), so reading them as Rust enums is sound; an ACL with
//! a value ferry cannot name is left out of an answer, with a warning.

use std::{ffi::c_char, ptr, sync::Arc, time::Duration};

use ferry_entity::acl::{
    AclBinding, AclFilter, AclOperation, AclPatternFilter, AclPatternType, AclPermission,
    AclResourceType,
};
use rdkafka::bindings as rd;

use super::{
    AdminError, blocking,
    ffi::{Guard, Rk, cstring, request, text},
};
use crate::kafka::KafkaCluster;

fn resource_type(t: AclResourceType) -> rd::rd_kafka_ResourceType_t {
    use rd::rd_kafka_ResourceType_t::*;
    match t {
        AclResourceType::Topic => RD_KAFKA_RESOURCE_TOPIC,
        AclResourceType::Group => RD_KAFKA_RESOURCE_GROUP,
        // librdkafka names Kafka's CLUSTER resource type (4) BROKER.
        AclResourceType::Cluster => RD_KAFKA_RESOURCE_BROKER,
        AclResourceType::TransactionalId => RD_KAFKA_RESOURCE_TRANSACTIONAL_ID,
    }
}

fn pattern_filter(p: AclPatternFilter) -> rd::rd_kafka_ResourcePatternType_t {
    use rd::rd_kafka_ResourcePatternType_t::*;
    match p {
        AclPatternFilter::Any => RD_KAFKA_RESOURCE_PATTERN_ANY,
        AclPatternFilter::Match => RD_KAFKA_RESOURCE_PATTERN_MATCH,
        AclPatternFilter::Literal => RD_KAFKA_RESOURCE_PATTERN_LITERAL,
        AclPatternFilter::Prefixed => RD_KAFKA_RESOURCE_PATTERN_PREFIXED,
    }
}

fn operation(o: AclOperation) -> rd::rd_kafka_AclOperation_t {
    use rd::rd_kafka_AclOperation_t::*;
    match o {
        AclOperation::All => RD_KAFKA_ACL_OPERATION_ALL,
        AclOperation::Read => RD_KAFKA_ACL_OPERATION_READ,
        AclOperation::Write => RD_KAFKA_ACL_OPERATION_WRITE,
        AclOperation::Create => RD_KAFKA_ACL_OPERATION_CREATE,
        AclOperation::Delete => RD_KAFKA_ACL_OPERATION_DELETE,
        AclOperation::Alter => RD_KAFKA_ACL_OPERATION_ALTER,
        AclOperation::Describe => RD_KAFKA_ACL_OPERATION_DESCRIBE,
        AclOperation::ClusterAction => RD_KAFKA_ACL_OPERATION_CLUSTER_ACTION,
        AclOperation::DescribeConfigs => RD_KAFKA_ACL_OPERATION_DESCRIBE_CONFIGS,
        AclOperation::AlterConfigs => RD_KAFKA_ACL_OPERATION_ALTER_CONFIGS,
        AclOperation::IdempotentWrite => RD_KAFKA_ACL_OPERATION_IDEMPOTENT_WRITE,
    }
}

fn permission(p: AclPermission) -> rd::rd_kafka_AclPermissionType_t {
    use rd::rd_kafka_AclPermissionType_t::*;
    match p {
        AclPermission::Deny => RD_KAFKA_ACL_PERMISSION_TYPE_DENY,
        AclPermission::Allow => RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW,
    }
}

fn read_resource_type(t: rd::rd_kafka_ResourceType_t) -> Option<AclResourceType> {
    use rd::rd_kafka_ResourceType_t::*;
    match t {
        RD_KAFKA_RESOURCE_TOPIC => Some(AclResourceType::Topic),
        RD_KAFKA_RESOURCE_GROUP => Some(AclResourceType::Group),
        RD_KAFKA_RESOURCE_BROKER => Some(AclResourceType::Cluster),
        RD_KAFKA_RESOURCE_TRANSACTIONAL_ID => Some(AclResourceType::TransactionalId),
        _ => None,
    }
}

fn read_pattern_type(p: rd::rd_kafka_ResourcePatternType_t) -> Option<AclPatternType> {
    use rd::rd_kafka_ResourcePatternType_t::*;
    match p {
        RD_KAFKA_RESOURCE_PATTERN_LITERAL => Some(AclPatternType::Literal),
        RD_KAFKA_RESOURCE_PATTERN_PREFIXED => Some(AclPatternType::Prefixed),
        _ => None,
    }
}

fn read_operation(o: rd::rd_kafka_AclOperation_t) -> Option<AclOperation> {
    AclOperation::ALL
        .iter()
        .copied()
        .find(|v| operation(*v) == o)
}

fn read_permission(p: rd::rd_kafka_AclPermissionType_t) -> Option<AclPermission> {
    AclPermission::ALL
        .iter()
        .copied()
        .find(|v| permission(*v) == p)
}

/// A NUL-terminated copy of an optional filter string (NULL matches any).
fn optional(what: &str, value: Option<&str>) -> Result<Option<std::ffi::CString>, AdminError> {
    value.map(|v| cstring(what, v)).transpose()
}

fn as_ptr(value: &Option<std::ffi::CString>) -> *const c_char {
    value.as_ref().map_or(ptr::null(), |v| v.as_ptr())
}

/// librdkafka's object for one ACL, freed when the guard drops. Only the
/// tests build one, to read it back: ferry sends CreateAcls over its own
/// connection (`ferry-worker`'s `kafka::wire::acls` says why).
#[cfg(test)]
fn native_binding(acl: &AclBinding) -> Result<Guard<rd::rd_kafka_AclBinding_t>, AdminError> {
    let name = cstring("resource_name", &acl.resource_name)?;
    let principal = cstring("principal", &acl.principal)?;
    let host = cstring("host", &acl.host)?;
    let pattern = match acl.pattern_type {
        AclPatternType::Literal => {
            rd::rd_kafka_ResourcePatternType_t::RD_KAFKA_RESOURCE_PATTERN_LITERAL
        }
        AclPatternType::Prefixed => {
            rd::rd_kafka_ResourcePatternType_t::RD_KAFKA_RESOURCE_PATTERN_PREFIXED
        }
    };
    let mut errstr = [0 as c_char; 256];
    // SAFETY: the strings are NUL-terminated and outlive the call, which
    // copies them; `errstr` is a writable buffer of the length given.
    let binding = unsafe {
        rd::rd_kafka_AclBinding_new(
            resource_type(acl.resource_type),
            name.as_ptr(),
            pattern,
            principal.as_ptr(),
            host.as_ptr(),
            operation(acl.operation),
            permission(acl.permission),
            errstr.as_mut_ptr(),
            errstr.len(),
        )
    };
    if binding.is_null() {
        // SAFETY: librdkafka wrote a NUL-terminated message into `errstr`.
        let why = unsafe { text(errstr.as_ptr()) }.unwrap_or_default();
        return Err(AdminError::Invalid(format!("the ACL is not valid: {why}")));
    }
    Ok(Guard::new(binding, rd::rd_kafka_AclBinding_destroy))
}

/// librdkafka's object for an ACL filter, freed when the guard drops.
pub fn native_filter(filter: &AclFilter) -> Result<Guard<rd::rd_kafka_AclBinding_t>, AdminError> {
    let name = optional("resource_name", filter.resource_name.as_deref())?;
    let principal = optional("principal", filter.principal.as_deref())?;
    let host = optional("host", filter.host.as_deref())?;
    let mut errstr = [0 as c_char; 256];
    // SAFETY: as in `native_binding`; NULL strings are librdkafka's "any".
    let native = unsafe {
        rd::rd_kafka_AclBindingFilter_new(
            filter.resource_type.map_or(
                rd::rd_kafka_ResourceType_t::RD_KAFKA_RESOURCE_ANY,
                resource_type,
            ),
            as_ptr(&name),
            pattern_filter(filter.pattern_type),
            as_ptr(&principal),
            as_ptr(&host),
            filter.operation.map_or(
                rd::rd_kafka_AclOperation_t::RD_KAFKA_ACL_OPERATION_ANY,
                operation,
            ),
            filter.permission.map_or(
                rd::rd_kafka_AclPermissionType_t::RD_KAFKA_ACL_PERMISSION_TYPE_ANY,
                permission,
            ),
            errstr.as_mut_ptr(),
            errstr.len(),
        )
    };
    if native.is_null() {
        // SAFETY: librdkafka wrote a NUL-terminated message into `errstr`.
        let why = unsafe { text(errstr.as_ptr()) }.unwrap_or_default();
        return Err(AdminError::Invalid(format!(
            "the ACL filter is not valid: {why}"
        )));
    }
    Ok(Guard::new(native, rd::rd_kafka_AclBinding_destroy))
}

/// An owned copy of an ACL of a result; `None` when one of its values is
/// one ferry cannot name (librdkafka's `UNKNOWN`).
///
/// # Safety
/// `acl` points to a live ACL of a live result event.
pub unsafe fn read_binding(acl: *const rd::rd_kafka_AclBinding_t) -> Option<AclBinding> {
    // SAFETY: guaranteed by the caller.
    unsafe {
        Some(AclBinding {
            resource_type: read_resource_type(rd::rd_kafka_AclBinding_restype(acl))?,
            resource_name: text(rd::rd_kafka_AclBinding_name(acl)).unwrap_or_default(),
            pattern_type: read_pattern_type(rd::rd_kafka_AclBinding_resource_pattern_type(acl))?,
            principal: text(rd::rd_kafka_AclBinding_principal(acl)).unwrap_or_default(),
            host: text(rd::rd_kafka_AclBinding_host(acl)).unwrap_or_default(),
            operation: read_operation(rd::rd_kafka_AclBinding_operation(acl))?,
            permission: read_permission(rd::rd_kafka_AclBinding_permission_type(acl))?,
        })
    }
}

/// Owned copies of `count` ACLs at `acls`, leaving out (with a warning)
/// those ferry cannot name.
///
/// # Safety
/// `acls` points to `count` live ACLs of a live result event (or is NULL
/// when `count` is 0).
pub unsafe fn read_bindings(
    acls: *const *const rd::rd_kafka_AclBinding_t,
    count: usize,
) -> Vec<AclBinding> {
    let mut out = Vec::with_capacity(count);
    let mut unnamed = 0;
    for i in 0..count {
        // SAFETY: guaranteed by the caller.
        match unsafe { read_binding(*acls.add(i)) } {
            Some(acl) => out.push(acl),
            None => unnamed += 1,
        }
    }
    if unnamed > 0 {
        tracing::warn!(
            count = unnamed,
            "ACLs with a resource type, pattern, operation or permission ferry cannot name were left out"
        );
    }
    out
}

/// DescribeAcls with one filter.
fn describe(rk: Rk, filter: &AclFilter, timeout: Duration) -> Result<Vec<AclBinding>, AdminError> {
    let native = native_filter(filter)?;
    // SAFETY: `rk` is live for the call (the caller holds the client); the
    // filter outlives the request, which copies it; every pointer read below
    // belongs to `event`, which outlives the reads.
    unsafe {
        let event = request(
            rk,
            rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DESCRIBEACLS,
            timeout,
            false,
            |options, queue| rd::rd_kafka_DescribeAcls(rk, native.ptr, options, queue),
        )?;
        let result = rd::rd_kafka_event_DescribeAcls_result(event.ptr);
        if result.is_null() {
            return Err(AdminError::Invalid(
                "DescribeAcls returned no result".into(),
            ));
        }
        let mut count = 0;
        let acls = rd::rd_kafka_DescribeAcls_result_acls(result, &mut count);
        if acls.is_null() {
            return Ok(Vec::new());
        }
        Ok(read_bindings(acls.cast_const(), count))
    }
}

/// The cluster's ACLs that `filter` matches, sorted by resource, then
/// principal, host, operation and permission.
pub async fn describe_acls(
    cluster: &Arc<KafkaCluster>,
    filter: AclFilter,
    timeout: Duration,
) -> Result<Vec<AclBinding>, AdminError> {
    let cluster = cluster.clone();
    blocking(timeout, move || {
        let mut acls = describe(cluster.admin.inner().native_ptr(), &filter, timeout)?;
        acls.sort_by(|a, b| sort_key(a).cmp(&sort_key(b)));
        Ok(acls)
    })
    .await
}

fn sort_key(acl: &AclBinding) -> (&str, &str, &str, &str, &str, &str, &str) {
    (
        acl.resource_type.as_str(),
        &acl.resource_name,
        acl.pattern_type.as_str(),
        &acl.principal,
        &acl.host,
        acl.operation.as_str(),
        acl.permission.as_str(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_reads_back_as_itself() {
        for t in AclResourceType::ALL {
            assert_eq!(read_resource_type(resource_type(*t)), Some(*t));
        }
        for o in AclOperation::ALL {
            assert_eq!(read_operation(operation(*o)), Some(*o));
        }
        for p in AclPermission::ALL {
            assert_eq!(read_permission(permission(*p)), Some(*p));
        }
        assert_eq!(
            read_resource_type(rd::rd_kafka_ResourceType_t::RD_KAFKA_RESOURCE_UNKNOWN),
            None
        );
    }

    #[test]
    fn bindings_and_filters_are_built_and_freed() {
        let acl = AclBinding {
            resource_type: AclResourceType::Topic,
            resource_name: "orders".into(),
            pattern_type: AclPatternType::Prefixed,
            principal: "User:alice".into(),
            host: "*".into(),
            operation: AclOperation::Read,
            permission: AclPermission::Allow,
        };
        let native = native_binding(&acl).expect("a valid ACL");
        // SAFETY: `native` is a live ACL.
        assert_eq!(unsafe { read_binding(native.ptr) }, Some(acl.clone()));
        let nul = AclBinding {
            principal: "User:a\0b".into(),
            ..acl
        };
        assert!(matches!(native_binding(&nul), Err(AdminError::Invalid(_))));
        assert!(native_filter(&AclFilter::default()).is_ok());
    }
}
