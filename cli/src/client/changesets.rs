//! The native changeset API (docs/CHANGESETS.md): a desired-state document
//! planned against a cluster, applied, approved, resumed and checked for
//! drift. The document is sent as it was read (YAML or JSON): the server
//! parses it, so that what it refuses is said in its own words.

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{Body, Client, ClientError, Task, segment};

/// A changeset as the native API shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Changeset {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    /// A number in ferry's answers; kept as the server wrote it.
    #[serde(default)]
    pub cluster_id: Option<Value>,
    pub status: String,
    #[serde(default)]
    pub plan: Plan,
    #[serde(default)]
    pub steps: Vec<Step>,
    #[serde(default)]
    pub drift: Option<Drift>,
    #[serde(default)]
    pub watch: Option<bool>,
    #[serde(default)]
    pub apply_task_id: Option<String>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

impl Changeset {
    /// The cluster's id as text.
    pub fn cluster(&self) -> String {
        match &self.cluster_id {
            Some(Value::String(id)) => id.clone(),
            Some(Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        }
    }

    /// Nothing more happens to it unless someone acts (applies, approves,
    /// resumes or plans again).
    pub fn is_settled(&self) -> bool {
        !matches!(self.status.as_str(), "applying" | "awaitingApproval")
    }
}

/// The diff between a document and the live cluster.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    #[serde(default)]
    pub changes: Vec<Change>,
    #[serde(default)]
    pub summary: Option<ChangeSummary>,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

impl Plan {
    /// The counts of each action, as the server gave them or as the changes
    /// say when it gave none.
    pub fn counts(&self) -> ChangeSummary {
        self.summary
            .clone()
            .unwrap_or_else(|| ChangeSummary::of(&self.changes))
    }

    /// Whether applying it would change the cluster.
    pub fn changes_anything(&self) -> bool {
        self.changes.iter().any(Change::does_something)
    }

    pub fn is_refused(&self) -> bool {
        self.changes.iter().any(|c| c.refused.is_some())
    }
}

/// One resource's change.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    /// topic, acl or changefeed.
    pub resource: String,
    pub name: String,
    /// create, update, delete or unchanged.
    pub action: String,
    #[serde(default)]
    pub fields: Vec<FieldChange>,
    #[serde(default)]
    pub refused: Option<String>,
    #[serde(default)]
    pub warnings: Vec<String>,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

impl Change {
    pub fn does_something(&self) -> bool {
        self.action != "unchanged"
    }
}

/// One field's old and new value; `null` is absent (for a config, the
/// broker's default).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldChange {
    pub field: String,
    #[serde(default)]
    pub old: Option<Value>,
    #[serde(default)]
    pub new: Option<Value>,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// How many changes of each action a plan holds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeSummary {
    #[serde(default)]
    pub create: u64,
    #[serde(default)]
    pub update: u64,
    #[serde(default)]
    pub delete: u64,
    #[serde(default)]
    pub unchanged: u64,
    #[serde(default)]
    pub refused: u64,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

impl ChangeSummary {
    pub fn of(changes: &[Change]) -> ChangeSummary {
        let count = |action: &str| changes.iter().filter(|c| c.action == action).count() as u64;
        ChangeSummary {
            create: count("create"),
            update: count("update"),
            delete: count("delete"),
            unchanged: count("unchanged"),
            refused: changes.iter().filter(|c| c.refused.is_some()).count() as u64,
            rest: Map::new(),
        }
    }
}

/// The task that carries out (part of) one change.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    /// The change's index in the plan.
    #[serde(default)]
    pub change: Option<usize>,
    #[serde(default)]
    pub task_id: Option<String>,
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

impl Step {
    pub fn status(&self) -> &str {
        self.status.as_deref().unwrap_or("pending")
    }

    pub fn is_final(&self) -> bool {
        matches!(self.status(), "succeeded" | "failed" | "cancelled")
    }

    /// The step's error, when the server puts it on the step.
    pub fn error(&self) -> Option<&str> {
        ["lastError", "error"]
            .iter()
            .find_map(|key| self.rest.get(*key).and_then(Value::as_str))
    }
}

/// The last drift check of a watched (or checked) changeset.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Drift {
    #[serde(default)]
    pub checked_at: Option<String>,
    #[serde(default)]
    pub changes: Vec<Change>,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// A page of changesets, as every native list answers: `data` and `total`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangesetPage {
    #[serde(default)]
    data: Vec<Changeset>,
    #[serde(default)]
    pub total: u64,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

impl ChangesetPage {
    pub fn changesets(&self) -> &[Changeset] {
        &self.data
    }
}

/// Filters of the changeset list, as the native API names them.
#[derive(Debug, Default)]
pub struct ChangesetFilter {
    pub cluster: Option<String>,
    pub name: Option<String>,
    pub status: Option<String>,
    pub page: u64,
    pub page_size: u64,
}

impl Client {
    /// Plans `document` (`mode=plan`): the changeset, `planned` or
    /// `refused`; nothing is applied.
    pub async fn plan(
        &self,
        document: Vec<u8>,
        content_type: &'static str,
    ) -> Result<Changeset, ClientError> {
        let body = Body::Raw {
            bytes: document,
            content_type,
        };
        let query = [("mode", "plan".to_owned())];
        self.send(Method::POST, "/api/v1/changesets", &query, body, None)
            .await
    }

    pub async fn changeset(&self, id: &str) -> Result<Changeset, ClientError> {
        let path = format!("/api/v1/changesets/{}", segment(id));
        self.call(Method::GET, &path, &[], None).await
    }

    pub async fn changesets(&self, filter: &ChangesetFilter) -> Result<ChangesetPage, ClientError> {
        let mut query = vec![
            ("page", filter.page.to_string()),
            ("pageSize", filter.page_size.to_string()),
        ];
        for (name, value) in [
            ("clusterId", &filter.cluster),
            ("name", &filter.name),
            ("status", &filter.status),
        ] {
            if let Some(value) = value {
                query.push((name, value.clone()));
            }
        }
        self.call(Method::GET, "/api/v1/changesets", &query, None)
            .await
    }

    /// `apply`, `approve` or `resume` a changeset: answers it as it is
    /// then (`applying`, `awaitingApproval`, ...).
    pub async fn changeset_action(&self, id: &str, action: &str) -> Result<Changeset, ClientError> {
        let path = format!("/api/v1/changesets/{}/{action}", segment(id));
        self.call(Method::POST, &path, &[], None).await
    }

    /// Starts a drift check now: answers its `changeset.drift` task.
    pub async fn check_drift(&self, id: &str) -> Result<Task, ClientError> {
        let path = format!("/api/v1/changesets/{}/drift", segment(id));
        self.call(Method::POST, &path, &[], None).await
    }
}
