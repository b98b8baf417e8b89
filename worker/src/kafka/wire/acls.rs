//! CreateAcls over ferry's own connection rather than librdkafka's: when a
//! CreateAcls answer does not parse, librdkafka 2.12's parser reports
//! success without a result and an assertion then aborts the whole process
//! (`rd_kafka_CreateAclsResponse_parse` returns its untouched `err`). tansu
//! 0.6.0 answers CreateAcls without its results array, so one request to it
//! through librdkafka would kill the worker and every attempt after it;
//! here such an answer is an error of the one task.

use std::time::Duration;

use ferry_entity::acl::{AclBinding, AclOperation, AclPatternType, AclPermission, AclResourceType};
use kafka_protocol::{
    error::ParseResponseErrorCode,
    messages::{ApiKey, CreateAclsRequest, CreateAclsResponse, create_acls_request::AclCreation},
    protocol::StrBytes,
};

use super::{Connection, WireError, WireTarget};

/// CreateAcls versions ferry speaks: v1 added the pattern type (v0 knows
/// only literal names), v2 is the first flexible one.
const CREATE_ACLS_VERSIONS: (i16, i16) = (1, 3);

/// Kafka's wire codes of an ACL's values.
fn resource_code(t: AclResourceType) -> i8 {
    match t {
        AclResourceType::Topic => 2,
        AclResourceType::Group => 3,
        AclResourceType::Cluster => 4,
        AclResourceType::TransactionalId => 5,
    }
}

fn pattern_code(p: AclPatternType) -> i8 {
    match p {
        AclPatternType::Literal => 3,
        AclPatternType::Prefixed => 4,
    }
}

fn operation_code(o: AclOperation) -> i8 {
    match o {
        AclOperation::All => 2,
        AclOperation::Read => 3,
        AclOperation::Write => 4,
        AclOperation::Create => 5,
        AclOperation::Delete => 6,
        AclOperation::Alter => 7,
        AclOperation::Describe => 8,
        AclOperation::ClusterAction => 9,
        AclOperation::DescribeConfigs => 10,
        AclOperation::AlterConfigs => 11,
        AclOperation::IdempotentWrite => 12,
    }
}

fn permission_code(p: AclPermission) -> i8 {
    match p {
        AclPermission::Deny => 2,
        AclPermission::Allow => 3,
    }
}

fn creation(acl: &AclBinding) -> AclCreation {
    AclCreation::default()
        .with_resource_type(resource_code(acl.resource_type))
        .with_resource_name(StrBytes::from_string(acl.resource_name.clone()))
        .with_resource_pattern_type(pattern_code(acl.pattern_type))
        .with_principal(StrBytes::from_string(acl.principal.clone()))
        .with_host(StrBytes::from_string(acl.host.clone()))
        .with_operation(operation_code(acl.operation))
        .with_permission_type(permission_code(acl.permission))
}

/// Creates one ACL; Kafka answers creating one that exists as a success.
pub async fn create_acl(
    target: &WireTarget,
    acl: &AclBinding,
    timeout: Duration,
) -> Result<(), WireError> {
    let call = async { create(Connection::open(target).await?, acl).await };
    tokio::time::timeout(timeout, call)
        .await
        .unwrap_or(Err(WireError::Timeout(timeout)))
}

async fn create(mut conn: Connection, acl: &AclBinding) -> Result<(), WireError> {
    let version = conn.negotiate(ApiKey::CreateAcls, CREATE_ACLS_VERSIONS)?;
    let request = CreateAclsRequest::default().with_creations(vec![creation(acl)]);
    let response: CreateAclsResponse = conn.call(ApiKey::CreateAcls, version, &request).await?;
    match response.results.first() {
        None => Err(conn.protocol_error("no result for the ACL")),
        Some(result) => match result.error_code.err() {
            None => Ok(()),
            Some(error) => Err(WireError::Broker {
                error,
                message: result.error_message.as_ref().map(|m| m.to_string()),
            }),
        },
    }
}

#[cfg(test)]
mod tests {
    use bytes::BufMut;

    use super::*;

    fn acl() -> AclBinding {
        AclBinding {
            resource_type: AclResourceType::Topic,
            resource_name: "orders".into(),
            pattern_type: AclPatternType::Literal,
            principal: "User:alice".into(),
            host: "*".into(),
            operation: AclOperation::Read,
            permission: AclPermission::Allow,
        }
    }

    /// One answer frame: its length, a response header (v1 when
    /// `flexible`: with an empty tag buffer) and `body`. Written by hand:
    /// ferry's kafka-protocol encodes requests only.
    fn frame(out: &mut Vec<u8>, correlation_id: i32, flexible: bool, body: &[u8]) {
        let header = 4 + usize::from(flexible);
        let length = i32::try_from(header + body.len()).expect("a small frame");
        out.put_i32(length);
        out.put_i32(correlation_id);
        if flexible {
            out.put_u8(0);
        }
        out.extend_from_slice(body);
    }

    /// A broker that answers ApiVersions v0 (CreateAcls 0 to 3) and then
    /// CreateAcls v3 with `answer`; what ferry makes of it.
    async fn against(answer: &[u8]) -> Result<(), WireError> {
        let mut versions = Vec::new();
        versions.put_i16(0);
        versions.put_i32(1);
        versions.put_i16(ApiKey::CreateAcls as i16);
        versions.put_i16(0);
        versions.put_i16(3);
        let mut answers = Vec::new();
        frame(&mut answers, 1, false, &versions);
        frame(&mut answers, 2, true, answer);
        let broker = tokio::io::join(std::io::Cursor::new(answers), tokio::io::sink());
        let conn = Connection::over("broker:9092", Box::new(broker), None).await?;
        create(conn, &acl()).await
    }

    #[tokio::test]
    async fn tansus_answer_without_results_is_an_error_not_an_abort() {
        // tansu 0.6.0: the throttle time and an empty tag buffer, no array.
        let mut tansu = Vec::new();
        tansu.put_i32(0);
        tansu.put_u8(0);
        let err = against(&tansu).await.expect_err("no result");
        assert!(matches!(err, WireError::Protocol { .. }), "{err}");
        assert!(!err.is_retryable());

        // A whole answer: one result, no error, a null message.
        let mut whole = Vec::new();
        whole.put_i32(0);
        whole.put_u8(2);
        whole.put_i16(0);
        whole.put_u8(0);
        whole.put_u8(0);
        whole.put_u8(0);
        against(&whole).await.expect("a created ACL");

        // A refusal names the broker's error.
        let mut refused = Vec::new();
        refused.put_i32(0);
        refused.put_u8(2);
        refused.put_i16(42);
        refused.put_u8(0);
        refused.put_u8(0);
        refused.put_u8(0);
        let err = against(&refused).await.expect_err("refused");
        assert!(matches!(err, WireError::Broker { .. }), "{err}");
    }

    #[test]
    fn an_acl_goes_out_in_kafkas_codes() {
        let c = creation(&AclBinding {
            resource_type: AclResourceType::Cluster,
            resource_name: "kafka-cluster".into(),
            pattern_type: AclPatternType::Prefixed,
            operation: AclOperation::IdempotentWrite,
            ..acl()
        });
        assert_eq!(
            (
                c.resource_type,
                c.resource_pattern_type,
                c.operation,
                c.permission_type
            ),
            (4, 4, 12, 3)
        );
        assert_eq!(c.principal.as_str(), "User:alice");
    }
}
