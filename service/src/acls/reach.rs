//! Who reaches which ACLs, for a caller whose role allows the call (reads
//! need a token that reaches the cluster, changes the `client` role):
//! - A global token reaches every ACL of the cluster.
//! - A project token reaches the ACLs of `TOPIC` and `GROUP` resources
//!   within its grant's prefix: a `LITERAL` or `PREFIXED` name that starts
//!   with the prefix, so that the ACL can apply to nothing outside it. A
//!   `LITERAL` `*` (every topic) or a `PREFIXED` name shorter than the prefix
//!   reaches beyond it and is the platform team's; under a grant without a
//!   prefix every `TOPIC` and `GROUP` ACL is the project's. `CLUSTER` and
//!   `TRANSACTIONAL_ID` ACLs concern every tenant of the cluster: only a
//!   global token reads or changes them.
//! - A list answered to a project token leaves out the ACLs it does not
//!   reach; creating one is refused with 403 naming the rule.
//! - A delete by a project token names a `TOPIC` or `GROUP` resource type,
//!   and under a prefix a `LITERAL` or `PREFIXED` pattern and a name within
//!   it: `ANY` and `MATCH` select ACLs by other names (the wildcard, shorter
//!   prefixes), which lie outside the prefix.

use ferry_entity::{
    ClusterId,
    acl::{AclBinding, AclPatternFilter, AclResourceType},
};

use super::DeleteFilter;
use crate::{access::Identity, error::ServiceError};

/// The prefix a project token is limited to on the cluster: `None` for a
/// global token, `Some(None)` for a grant without a prefix.
fn scope(identity: &Identity, cluster: ClusterId) -> Option<Option<&str>> {
    identity.project.as_ref().map(|_| {
        identity
            .grant(cluster)
            .and_then(|g| g.topic_prefix.as_deref())
    })
}

fn is_named_resource(t: AclResourceType) -> bool {
    matches!(t, AclResourceType::Topic | AclResourceType::Group)
}

/// Whether the caller sees this ACL (see the module doc).
pub fn sees(identity: &Identity, cluster: ClusterId, acl: &AclBinding) -> bool {
    match scope(identity, cluster) {
        None => true,
        Some(prefix) => {
            is_named_resource(acl.resource_type)
                && prefix.is_none_or(|p| acl.resource_name.starts_with(p))
        }
    }
}

/// The caller may create this ACL, or 403 saying why.
pub fn may_create(
    identity: &Identity,
    cluster: ClusterId,
    acl: &AclBinding,
) -> Result<(), ServiceError> {
    let Some(prefix) = scope(identity, cluster) else {
        return Ok(());
    };
    if !is_named_resource(acl.resource_type) {
        return Err(ServiceError::forbidden(format!(
            "{} ACLs concern every tenant of the cluster: they need a global token",
            acl.resource_type
        )));
    }
    match prefix {
        Some(p) if !acl.resource_name.starts_with(p) => Err(ServiceError::forbidden(format!(
            "an ACL on {} `{}` reaches beyond this project's prefix `{p}` on cluster {cluster}",
            acl.resource_type, acl.resource_name
        ))),
        _ => Ok(()),
    }
}

/// The caller may delete the ACLs `filter` matches, or 403 saying why.
pub fn may_delete(
    identity: &Identity,
    cluster: ClusterId,
    filter: &DeleteFilter,
) -> Result<(), ServiceError> {
    let filter = filter.filter();
    let Some(prefix) = scope(identity, cluster) else {
        return Ok(());
    };
    if !filter.resource_type.is_some_and(is_named_resource) {
        return Err(ServiceError::forbidden(
            "a project token deletes ACLs of TOPIC or GROUP resources only: resource_type must \
             be one of them",
        ));
    }
    let Some(p) = prefix else {
        return Ok(());
    };
    let exact = matches!(
        filter.pattern_type,
        AclPatternFilter::Literal | AclPatternFilter::Prefixed
    );
    match filter.resource_name.as_deref() {
        Some(name) if exact && name.starts_with(p) => Ok(()),
        _ => Err(ServiceError::forbidden(format!(
            "under the prefix `{p}` on cluster {cluster}, a delete names pattern_type LITERAL or \
             PREFIXED and a resource_name that starts with the prefix"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use ferry_entity::{
        Role,
        acl::{AclFilter, AclPatternType},
    };

    use super::*;
    use crate::{
        access::ProjectScope,
        acls::{AclFields, binding},
        projects::Grant,
    };

    fn fields() -> AclFields {
        AclFields {
            resource_type: "TOPIC".into(),
            resource_name: "teama.orders".into(),
            pattern_type: "LITERAL".into(),
            principal: "User:alice".into(),
            host: "*".into(),
            operation: "READ".into(),
            permission: "ALLOW".into(),
        }
    }

    fn project(prefix: Option<&str>) -> Identity {
        Identity {
            token_id: "t".into(),
            name: "n".into(),
            role: Role::Client,
            project: Some(ProjectScope {
                id: "a".into(),
                grants: vec![Grant {
                    project_id: "a".into(),
                    cluster_id: ClusterId(1),
                    topic_prefix: prefix.map(str::to_owned),
                    source: false,
                    target: false,
                    created_at: Utc::now(),
                    updated_at: Utc::now(),
                }],
            }),
            rate: None,
        }
    }

    fn global() -> Identity {
        Identity {
            project: None,
            ..project(None)
        }
    }

    #[test]
    fn project_tokens_reach_acls_within_their_prefix() {
        let acl = binding(&fields()).unwrap();
        let cluster = ClusterId(1);
        let a = project(Some("teama."));
        assert!(sees(&a, cluster, &acl) && may_create(&a, cluster, &acl).is_ok());
        let wildcard = AclBinding {
            resource_name: "*".into(),
            ..acl.clone()
        };
        assert!(!sees(&a, cluster, &wildcard));
        assert!(may_create(&a, cluster, &wildcard).is_err());
        assert!(may_create(&project(None), cluster, &wildcard).is_ok());
        let shorter = AclBinding {
            resource_name: "team".into(),
            pattern_type: AclPatternType::Prefixed,
            ..acl.clone()
        };
        assert!(may_create(&a, cluster, &shorter).is_err());
        let on_cluster = AclBinding {
            resource_type: AclResourceType::Cluster,
            resource_name: "kafka-cluster".into(),
            ..acl.clone()
        };
        assert!(!sees(&project(None), cluster, &on_cluster));
        assert!(may_create(&project(None), cluster, &on_cluster).is_err());
        assert!(sees(&global(), cluster, &on_cluster));
        assert!(may_create(&global(), cluster, &on_cluster).is_ok());
    }

    #[test]
    fn project_deletes_name_their_own_acls_exactly() {
        let cluster = ClusterId(1);
        let a = project(Some("teama."));
        let exact = AclFilter {
            resource_type: Some(AclResourceType::Topic),
            resource_name: Some("teama.orders".into()),
            pattern_type: AclPatternFilter::Literal,
            ..AclFilter::default()
        };
        let may =
            |who: &Identity, f: &AclFilter| may_delete(who, cluster, &DeleteFilter(f.clone()));
        assert!(may(&a, &exact).is_ok());
        let matching = AclFilter {
            pattern_type: AclPatternFilter::Match,
            ..exact.clone()
        };
        assert!(may(&a, &matching).is_err());
        assert!(may(&project(None), &matching).is_ok());
        let any_type = AclFilter {
            resource_type: None,
            ..exact.clone()
        };
        assert!(may(&project(None), &any_type).is_err());
        assert!(may(&global(), &AclFilter::default()).is_ok());
    }
}
