//! Where a caller may point a changefeed. Global tokens read from and write
//! to any registered cluster, as before projects; a project's tokens only
//! from clusters granted to the project as a source, into clusters granted as
//! a target (a Kafka cluster under a prefix: topics that start with it). An
//! address given by `ip`/`port` instead of a registered cluster is the
//! riskiest choice (ferry's workers connect wherever it says), so it is
//! allowed for global admins, and for projects only when the host is on the
//! `changefeed.downstream_hosts` allow-list.

use ferry_entity::{ClusterId, Role};

use crate::{access::Identity, error::ServiceError};

/// The caller of a create or update, and the hosts projects may name.
#[derive(Debug, Clone, Copy)]
pub struct Reach<'a> {
    pub identity: &'a Identity,
    pub downstream_hosts: &'a [String],
}

impl Reach<'_> {
    /// The upstream: for a project, a cluster granted as a source. One not
    /// granted at all is answered as if it did not exist.
    pub fn source(&self, cluster: ClusterId) -> Result<(), ServiceError> {
        let Some(project) = self.identity.project_id() else {
            return Ok(());
        };
        match self.identity.grant(cluster) {
            None => Err(no_such("clusterId", cluster)),
            Some(g) if g.source => Ok(()),
            Some(_) => Err(ServiceError::forbidden(format!(
                "cluster {cluster} is not granted to project {project} as a changefeed source"
            ))),
        }
    }

    /// A registered downstream cluster: for a project, granted as a target
    /// (a MySQL/TiDB cluster) or granted at all (a Kafka cluster, where
    /// `topic` must then be under the grant's prefix).
    pub fn target(&self, cluster: ClusterId, topic: Option<&str>) -> Result<(), ServiceError> {
        let Some(project) = self.identity.project_id() else {
            return Ok(());
        };
        let Some(grant) = self.identity.grant(cluster) else {
            return Err(no_such("downstream.targetClusterId", cluster));
        };
        match topic {
            Some(topic) => self
                .identity
                .may_name(cluster, "downstream.topicName", topic),
            None if grant.target => Ok(()),
            None => Err(ServiceError::forbidden(format!(
                "cluster {cluster} is not granted to project {project} as a changefeed target"
            ))),
        }
    }

    /// A downstream named by address: global admins, or a project when the
    /// host is on the allow-list.
    pub fn address(&self, host: &str) -> Result<(), ServiceError> {
        let host = host.trim().trim_start_matches('[').trim_end_matches(']');
        if self.identity.project_id().is_some() {
            if self
                .downstream_hosts
                .iter()
                .any(|allowed| allowed.eq_ignore_ascii_case(host))
            {
                return Ok(());
            }
            return Err(ServiceError::forbidden(format!(
                "downstream host `{host}` is not on the changefeed.downstream_hosts allow-list; \
                 name a cluster granted to the project with targetClusterId"
            )));
        }
        if self.identity.role.allows(Role::Admin) {
            return Ok(());
        }
        Err(ServiceError::forbidden(
            "a downstream given by ip and port needs a global admin token; name a registered \
             cluster with targetClusterId",
        ))
    }
}

fn no_such(field: &str, cluster: ClusterId) -> ServiceError {
    ServiceError::invalid(format!("{field} `{cluster}`: no such cluster"))
}
