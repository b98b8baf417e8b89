//! Who is calling and what they reach: an [`Identity`] is a token's role
//! and, for a project's token, the project and its grants. Every dialect
//! asks it the same questions, so that a project token sees the same world
//! through all of them:
//!
//! - a global token reaches everything its role allows;
//! - a project token reaches only its project's rows (tasks, changefeeds,
//!   audit entries, tokens), the clusters granted to the project, and on a
//!   Kafka cluster granted under a prefix only the topics and consumer
//!   groups whose names start with it.
//!
//! What a caller does not reach does not exist for it (404); what it
//! reaches but may not change is refused (403).

use ferry_entity::{ClusterId, Role};

use crate::{error::ServiceError, projects::Grant};

/// Who is calling, resolved from the bearer token.
#[derive(Debug, Clone)]
pub struct Identity {
    pub token_id: String,
    pub name: String,
    pub role: Role,
    /// The project of a project token; `None` for a global token.
    pub project: Option<ProjectScope>,
    /// The token's own rate limit, over the settings' default.
    pub rate: Option<RateOverride>,
}

/// A project token's project and what it is granted.
#[derive(Debug, Clone)]
pub struct ProjectScope {
    pub id: String,
    pub grants: Vec<Grant>,
}

/// A token's own rate limit (requests per second, burst).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateOverride {
    pub per_second: u32,
    pub burst: u32,
}

/// A caller whose role or scope is short of what the operation needs.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Forbidden(pub String);

impl Identity {
    /// The caller's role allows `needed` within its scope (a project ADMIN
    /// is an admin of its project only).
    pub fn require(&self, needed: Role) -> Result<(), Forbidden> {
        if self.role.allows(needed) {
            Ok(())
        } else {
            Err(Forbidden(format!(
                "role `{}` may not do this; it needs `{}`",
                self.role.as_str(),
                needed.as_str()
            )))
        }
    }

    /// Only a global token with `needed` may do this: registering clusters,
    /// broker-level configs, grants, global tokens.
    pub fn require_global(&self, needed: Role) -> Result<(), Forbidden> {
        if let Some(project) = &self.project {
            return Err(Forbidden(format!(
                "a token of project {} may not do this; it needs a global `{}` token",
                project.id,
                needed.as_str()
            )));
        }
        self.require(needed)
    }

    pub fn is_global(&self) -> bool {
        self.project.is_none()
    }

    pub fn project_id(&self) -> Option<&str> {
        self.project.as_ref().map(|p| p.id.as_str())
    }

    /// The project's grant on a cluster (`None` for global tokens, which need
    /// none, and for clusters not granted).
    pub fn grant(&self, cluster: ClusterId) -> Option<&Grant> {
        self.project
            .as_ref()
            .and_then(|p| p.grants.iter().find(|g| g.cluster_id == cluster))
    }

    /// Whether the caller sees the cluster at all.
    pub fn reaches_cluster(&self, cluster: ClusterId) -> bool {
        self.is_global() || self.grant(cluster).is_some()
    }

    /// Whether the caller sees a topic (or a consumer group: the same prefix
    /// rule applies to their names) of a cluster.
    pub fn reaches_name(&self, cluster: ClusterId, name: &str) -> bool {
        match &self.project {
            None => true,
            Some(_) => self.grant(cluster).is_some_and(|g| {
                g.topic_prefix
                    .as_deref()
                    .is_none_or(|prefix| name.starts_with(prefix))
            }),
        }
    }

    /// The cluster exists for the caller, or a 404 naming it.
    pub fn see_cluster(&self, cluster: ClusterId) -> Result<(), ServiceError> {
        if self.reaches_cluster(cluster) {
            Ok(())
        } else {
            Err(ServiceError::not_found(format!("no cluster {cluster}")))
        }
    }

    /// The topic (or consumer group, `what`) exists for the caller, or a 404
    /// naming it, as if the broker had none.
    pub fn see_name(&self, cluster: ClusterId, what: &str, name: &str) -> Result<(), ServiceError> {
        self.see_cluster(cluster)?;
        if self.reaches_name(cluster, name) {
            Ok(())
        } else {
            Err(ServiceError::not_found(format!("no {what} {name}")))
        }
    }

    /// The caller may name a new topic (or group) `name` on the cluster: a
    /// project under a prefix creates only names that start with it (403
    /// otherwise, naming the prefix).
    pub fn may_name(&self, cluster: ClusterId, what: &str, name: &str) -> Result<(), ServiceError> {
        self.see_cluster(cluster)?;
        if self.reaches_name(cluster, name) {
            return Ok(());
        }
        let prefix = self
            .grant(cluster)
            .and_then(|g| g.topic_prefix.as_deref())
            .unwrap_or_default();
        Err(ServiceError::forbidden(format!(
            "{what} `{name}` is outside this project's prefix `{prefix}` on cluster {cluster}"
        )))
    }

    /// Whether the caller sees a row that belongs to `project` (a task, a
    /// changefeed, an audit entry): global tokens see every row, project
    /// tokens their project's.
    pub fn owns(&self, project: Option<&str>) -> bool {
        match self.project_id() {
            None => true,
            Some(own) => project == Some(own),
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;

    fn identity(project: Option<Vec<Grant>>) -> Identity {
        Identity {
            token_id: "t".into(),
            name: "n".into(),
            role: Role::Admin,
            project: project.map(|grants| ProjectScope {
                id: "a".into(),
                grants,
            }),
            rate: None,
        }
    }

    fn grant(cluster: i64, prefix: Option<&str>) -> Grant {
        Grant {
            project_id: "a".into(),
            cluster_id: ClusterId(cluster),
            topic_prefix: prefix.map(str::to_owned),
            source: false,
            target: false,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    #[test]
    fn projects_reach_their_grants_only() {
        let global = identity(None);
        assert!(global.reaches_name(ClusterId(9), "anything"));
        assert!(global.owns(Some("b")) && global.owns(None));
        let project = identity(Some(vec![grant(1, Some("teama.")), grant(2, None)]));
        assert!(project.reaches_name(ClusterId(1), "teama.orders"));
        assert!(!project.reaches_name(ClusterId(1), "teamb.orders"));
        assert!(project.reaches_name(ClusterId(2), "anything"));
        assert!(!project.reaches_cluster(ClusterId(3)));
        assert!(project.owns(Some("a")) && !project.owns(Some("b")) && !project.owns(None));
        assert!(project.require(Role::Admin).is_ok());
        assert!(project.require_global(Role::Admin).is_err());
    }
}
