//! A changeset: a desired-state document for one Kafka cluster, the plan
//! computed from it against the live cluster, and the steps (tasks) that
//! carried the plan out (`ferry_service::changesets`, docs/CHANGESETS.md).
//!
//! The document, the plan, the steps and the drift are typed JSON columns:
//! each reads back into its type or fails, never into a default.

use std::collections::BTreeMap;

use sea_orm::{FromJsonQueryResult, entity::prelude::*};
use serde::{Deserialize, Serialize};

pub use crate::domain::ChangesetStatus;
use crate::{acl::AclBinding, domain::ClusterId};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "changesets")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// What the document manages: deletes reach only what an earlier applied
    /// changeset of the same name on the same cluster named.
    pub name: String,
    pub cluster_id: ClusterId,
    /// The project of the token that planned it, which then owns it.
    pub project_id: Option<String>,
    pub status: ChangesetStatus,
    pub document: DesiredState,
    pub plan: Plan,
    pub steps: Steps,
    pub allow_delete: bool,
    pub require_approval: bool,
    pub watch: bool,
    pub revert: bool,
    /// Token names, for display; the ids decide who may approve.
    pub planned_by: String,
    pub planned_by_token: String,
    pub applied_by: Option<String>,
    pub applied_by_token: Option<String>,
    pub approved_by: Option<String>,
    /// The `changeset.apply` task of the latest apply or resume.
    pub apply_task_id: Option<String>,
    /// The last drift check's differences; `None` before the first.
    pub drift: Option<Drift>,
    /// When a watched changeset is next due for a drift check.
    pub drift_due_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub applied_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// What the document asks for, parsed and checked.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, FromJsonQueryResult)]
#[serde(rename_all = "camelCase")]
pub struct DesiredState {
    #[serde(default)]
    pub topics: Vec<DesiredTopic>,
    #[serde(default)]
    pub acls: Vec<AclBinding>,
    #[serde(default)]
    pub changefeeds: Vec<DesiredChangefeed>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DesiredTopic {
    pub name: String,
    /// `None`: the broker's default when created, any count when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partitions: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replication_factor: Option<i32>,
    /// The topic's complete set of config overrides.
    #[serde(default)]
    pub configs: BTreeMap<String, String>,
}

/// A changefeed as TiEM's create body names it. The downstream's password
/// is never kept in the document: `password_sealed` holds it encrypted with
/// ferry's secret key, for the `changefeed.create` it may lead to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DesiredChangefeed {
    pub name: String,
    /// The upstream cluster, as TiEM's `clusterId` names it.
    pub cluster_id: String,
    pub downstream_type: String,
    /// TiEM's downstream object without its password.
    pub downstream: serde_json::Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_sealed: Option<String>,
    #[serde(default)]
    pub rules: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_ts: Option<String>,
}

/// The diff between a document and the live cluster.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, FromJsonQueryResult)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    pub changes: Vec<Change>,
}

impl Plan {
    /// Whether any change is refused.
    pub fn is_refused(&self) -> bool {
        self.changes.iter().any(|c| c.refused.is_some())
    }

    /// The changes that do something.
    pub fn actions(&self) -> impl Iterator<Item = (usize, &Change)> {
        self.changes
            .iter()
            .enumerate()
            .filter(|(_, c)| c.action != Action::Unchanged)
    }
}

/// One resource's change.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    pub resource: Resource,
    /// The topic's or changefeed's name; an ACL's
    /// `TYPE:PATTERN:name principal host OPERATION PERMISSION`.
    pub name: String,
    pub action: Action,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldChange>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Resource {
    Topic,
    Acl,
    Changefeed,
}

impl Resource {
    pub fn as_str(self) -> &'static str {
        match self {
            Resource::Topic => "topic",
            Resource::Acl => "acl",
            Resource::Changefeed => "changefeed",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Action {
    Create,
    Update,
    Delete,
    Unchanged,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
            Action::Unchanged => "unchanged",
        }
    }
}

/// One field's old and new value as text; `None` is absent (or the
/// broker's default, for a config).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldChange {
    pub field: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

/// The tasks an apply submitted, in the order it submitted them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, FromJsonQueryResult)]
pub struct Steps(pub Vec<Step>);

/// The task that carries out one change of the plan (a change may take
/// several: a topic's partitions and its configs).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    /// The change's index in the plan.
    pub change: usize,
    pub task_id: String,
}

/// A drift check's outcome: the changes that would bring the cluster back
/// to the applied document (unchanged ones left out).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, FromJsonQueryResult)]
#[serde(rename_all = "camelCase")]
pub struct Drift {
    pub checked_at: DateTimeUtc,
    pub changes: Vec<Change>,
    /// The tasks a reverting check submitted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reverted_by: Vec<String>,
}
