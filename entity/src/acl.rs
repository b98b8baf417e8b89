//! Kafka ACLs as ferry stores them in the payloads of `acl.create` and
//! `acl.delete` tasks and in their results: an [`AclBinding`] (one ACL, every
//! field concrete) and an [`AclFilter`] (what DescribeAcls and DeleteAcls
//! match, where `None` is Kafka's `ANY`).
//!
//! Each enum's names are Kafka's and Confluent's upper-case ones (`TOPIC`,
//! `PREFIXED`, `DESCRIBE_CONFIGS`, `ALLOW`), used alike for serde, for the
//! API's parameters and in messages. They hold only the values a concrete
//! ACL can carry: Kafka's `UNKNOWN` is never valid in a request and `ANY`
//! and `MATCH` exist only in filters, so neither can reach a binding. The
//! `DELEGATION_TOKEN` and `USER` resource types are left out because
//! librdkafka, through which ferry sends ACL requests, has no value for
//! them.

use serde::{Deserialize, Serialize};

/// Each ACL enum's names: `as_str`, `parse`, `ALL` and `Display`.
macro_rules! acl_names {
    ($($ty:ident { $($variant:ident => $name:literal),+ $(,)? })+) => {
        $(
            impl $ty {
                /// Every value, in Kafka's order.
                pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

                pub fn as_str(self) -> &'static str {
                    match self {
                        $($ty::$variant => $name,)+
                    }
                }

                /// The value of an upper-case name; `None` for anything else.
                pub fn parse(s: &str) -> Option<Self> {
                    match s {
                        $($name => Some($ty::$variant),)+
                        _ => None,
                    }
                }
            }

            impl std::fmt::Display for $ty {
                fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str(self.as_str())
                }
            }
        )+
    };
}

/// The kind of resource an ACL is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AclResourceType {
    Topic,
    Group,
    /// The cluster itself (its one resource is named `kafka-cluster`).
    Cluster,
    TransactionalId,
}

/// How an ACL's resource name is matched against resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AclPatternType {
    /// The name exactly, or every resource when the name is `*`.
    Literal,
    /// Every resource whose name starts with the name.
    Prefixed,
}

/// Which ACLs a filter's pattern type selects.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AclPatternFilter {
    /// ACLs of any pattern type whose name equals the filter's; what a
    /// filter that names no pattern type selects.
    #[default]
    Any,
    /// Every ACL that applies to the named resource: its literal ACLs, the
    /// wildcard `*` and the prefixed ACLs whose prefix it starts with.
    Match,
    Literal,
    Prefixed,
}

/// The operation an ACL allows or denies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AclOperation {
    All,
    Read,
    Write,
    Create,
    Delete,
    Alter,
    Describe,
    ClusterAction,
    DescribeConfigs,
    AlterConfigs,
    IdempotentWrite,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AclPermission {
    Deny,
    Allow,
}

acl_names! {
    AclResourceType {
        Topic => "TOPIC",
        Group => "GROUP",
        Cluster => "CLUSTER",
        TransactionalId => "TRANSACTIONAL_ID",
    }
    AclPatternType {
        Literal => "LITERAL",
        Prefixed => "PREFIXED",
    }
    AclPatternFilter {
        Any => "ANY",
        Match => "MATCH",
        Literal => "LITERAL",
        Prefixed => "PREFIXED",
    }
    AclOperation {
        All => "ALL",
        Read => "READ",
        Write => "WRITE",
        Create => "CREATE",
        Delete => "DELETE",
        Alter => "ALTER",
        Describe => "DESCRIBE",
        ClusterAction => "CLUSTER_ACTION",
        DescribeConfigs => "DESCRIBE_CONFIGS",
        AlterConfigs => "ALTER_CONFIGS",
        IdempotentWrite => "IDEMPOTENT_WRITE",
    }
    AclPermission {
        Deny => "DENY",
        Allow => "ALLOW",
    }
}

/// One ACL: `principal` may (or may not) do `operation` from `host` on the
/// resources of `resource_type` that `resource_name` names as
/// `pattern_type` says.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AclBinding {
    pub resource_type: AclResourceType,
    pub resource_name: String,
    pub pattern_type: AclPatternType,
    /// `Type:name`, e.g. `User:alice`; `User:*` is every user.
    pub principal: String,
    /// An IP address, or `*` for every host.
    pub host: String,
    pub operation: AclOperation,
    pub permission: AclPermission,
}

/// What a DescribeAcls or DeleteAcls request matches. `None` matches any
/// value (Kafka's `ANY`, or a name, principal or host not given).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AclFilter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_type: Option<AclResourceType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_name: Option<String>,
    pub pattern_type: AclPatternFilter,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<AclOperation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permission: Option<AclPermission>,
}

impl AclFilter {
    /// Whether the filter matches every ACL of a cluster.
    pub fn matches_everything(&self) -> bool {
        self.resource_type.is_none()
            && self.resource_name.is_none()
            && self.pattern_type == AclPatternFilter::Any
            && self.principal.is_none()
            && self.host.is_none()
            && self.operation.is_none()
            && self.permission.is_none()
    }
}

/// What an `acl.delete` task records as its result: the ACLs the broker
/// deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AclsDeleted {
    pub deleted: Vec<AclBinding>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// serde writes the same names as `as_str`, and `parse` reads them.
    fn names_agree<T>(all: &[T], as_str: fn(T) -> &'static str, parse: fn(&str) -> Option<T>)
    where
        T: Serialize + Copy + PartialEq + std::fmt::Debug,
    {
        for v in all {
            let json = serde_json::to_value(v).expect("serialises");
            assert_eq!(json, serde_json::json!(as_str(*v)), "{v:?}");
            assert_eq!(parse(as_str(*v)), Some(*v));
        }
    }

    #[test]
    fn serde_and_the_api_use_the_same_names() {
        names_agree(
            AclResourceType::ALL,
            AclResourceType::as_str,
            AclResourceType::parse,
        );
        names_agree(
            AclPatternType::ALL,
            AclPatternType::as_str,
            AclPatternType::parse,
        );
        names_agree(
            AclPatternFilter::ALL,
            AclPatternFilter::as_str,
            AclPatternFilter::parse,
        );
        names_agree(AclOperation::ALL, AclOperation::as_str, AclOperation::parse);
        names_agree(
            AclPermission::ALL,
            AclPermission::as_str,
            AclPermission::parse,
        );
        assert_eq!(AclOperation::parse("describe"), None);
        assert_eq!(AclResourceType::parse("ANY"), None);
    }

    #[test]
    fn an_empty_filter_matches_everything() {
        assert!(AclFilter::default().matches_everything());
        let filter = AclFilter {
            resource_type: Some(AclResourceType::Topic),
            pattern_type: AclPatternFilter::Prefixed,
            ..AclFilter::default()
        };
        assert!(!filter.matches_everything());
        let json = serde_json::to_value(&filter).unwrap();
        assert_eq!(
            json,
            serde_json::json!({ "resource_type": "TOPIC", "pattern_type": "PREFIXED" })
        );
        assert_eq!(serde_json::from_value::<AclFilter>(json).unwrap(), filter);
    }
}
