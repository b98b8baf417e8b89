//! The changefeed registry: validating TiEM requests, recording changefeeds
//! and the tasks that operate on them, and reading them back. What runs a
//! changefeed lives in `changefeed::supervisor`; what each operation does, in
//! `jobs::changefeed`.

use chrono::Utc;
use ferry_entity::{
    ChangefeedState, ClusterKind, TaskKind, TaskStatus,
    changefeed::{self, ActiveModel, Entity as Changefeeds, Model},
    task,
};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{
    changefeed::{filter::TableFilter, tso},
    clusters::{self, ClusterError},
    jobs, queue,
    store::Store,
    tasks::{self, NewTask, Task},
};

mod downstream;
pub mod kafka_downstream;
mod topic_task;

use downstream::split_downstream;
pub use downstream::{downstream_view, endpoints, kafka_of};

/// Downstream kinds a changefeed can write to.
pub const DOWNSTREAM_TYPES: [&str; 3] = ["mysql", "tidb", "kafka"];

/// Engine options kept with the changefeed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ChangefeedOptions {
    pub worker_count: usize,
    pub max_txn_row: usize,
    /// Replicate tables without a usable key anyway (at-least-once duplicates
    /// are then possible downstream).
    pub force: bool,
}

/// A create or update request, dialect-neutral. `downstream` is TiEM's
/// object as sent, password included; it is split before storing.
#[derive(Debug, Clone, Default)]
pub struct ChangefeedInput {
    pub name: Option<String>,
    pub cluster_id: Option<String>,
    pub downstream_type: Option<String>,
    pub downstream: Option<Value>,
    pub rules: Option<Vec<String>>,
    pub start_ts: Option<String>,
    pub start_paused: bool,
    pub force: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ChangefeedError {
    #[error("{0}")]
    Invalid(String),
    #[error("changefeed not found")]
    NotFound,
    /// Another operation is in flight, or the state does not allow this one.
    #[error("{0}")]
    Conflict(String),
    #[error("metadata store error: {0}")]
    Store(#[from] DbErr),
    #[error("{0}")]
    Secret(String),
}

impl From<ClusterError> for ChangefeedError {
    fn from(err: ClusterError) -> Self {
        match err {
            ClusterError::Store(e) => Self::Store(e),
            ClusterError::NotFound => Self::Invalid("no such cluster".into()),
            other => Self::Invalid(other.to_string()),
        }
    }
}

/// A validated change, stored as the update task's payload.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ChangefeedPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downstream_type: Option<String>,
    /// Downstream settings without the password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downstream: Option<Value>,
    /// The new password, encrypted; `Some("")` never occurs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downstream_secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<ChangefeedOptions>,
}

pub async fn get(db: &impl ConnectionTrait, id: &str) -> Result<Model, ChangefeedError> {
    Changefeeds::find_by_id(id.to_owned())
        .one(db)
        .await?
        .ok_or(ChangefeedError::NotFound)
}

/// One page of a cluster's changefeeds, newest first, with the total.
pub async fn list(
    db: &impl ConnectionTrait,
    cluster_id: Option<&str>,
    page: u64,
    page_size: u64,
) -> Result<(Vec<Model>, u64), DbErr> {
    let mut query = Changefeeds::find();
    if let Some(cluster) = cluster_id {
        query = query.filter(changefeed::Column::ClusterId.eq(cluster));
    }
    let total = query.clone().count(db).await?;
    let rows = query
        .order_by_desc(changefeed::Column::CreatedAt)
        .order_by_desc(changefeed::Column::Id)
        .offset(page.saturating_sub(1) * page_size)
        .limit(page_size)
        .all(db)
        .await?;
    Ok((rows, total))
}

/// Ids among `ids` with an operation pending or running.
pub async fn unsteady(db: &impl ConnectionTrait, ids: &[String]) -> Result<Vec<String>, DbErr> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let kinds: Vec<&str> = TaskKind::ALL
        .into_iter()
        .filter(|k| k.is_changefeed_operation())
        .map(TaskKind::as_str)
        .collect();
    Ok(task::Entity::find()
        .filter(task::Column::Kind.is_in(kinds))
        .filter(task::Column::Subject.is_in(ids.to_vec()))
        .filter(
            task::Column::Status
                .is_in([TaskStatus::Pending.as_str(), TaskStatus::Running.as_str()]),
        )
        .all(db)
        .await?
        .into_iter()
        .filter_map(|t| t.subject)
        .collect())
}

/// Validates a create request, records the changefeed (state Initial) and
/// its `changefeed.create` task.
pub async fn create(
    store: &Store,
    input: ChangefeedInput,
    created_by: &str,
    request_id: Option<String>,
) -> Result<(Model, Task), ChangefeedError> {
    let name = validate_name(input.name.as_deref())?;
    let cluster_id = input
        .cluster_id
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .ok_or_else(|| ChangefeedError::Invalid("clusterId is required".into()))?;
    upstream_cluster(store, cluster_id).await?;
    let downstream_type = validate_downstream_type(input.downstream_type.as_deref())?;
    let rules = validate_rules(input.rules)?;
    let start_ts = validate_start_ts(input.start_ts.as_deref())?;
    let (downstream, secret, options) = split_downstream(
        store,
        &downstream_type,
        input.downstream.unwrap_or(json!({})),
        input.force,
    )
    .await?;
    let now = Utc::now();
    let id = uuid::Uuid::now_v7().to_string();
    let model = ActiveModel {
        id: Set(id.clone()),
        name: Set(name),
        cluster_id: Set(cluster_id.to_owned()),
        downstream_type: Set(downstream_type),
        downstream: Set(downstream),
        downstream_secret: Set(secret),
        rules: Set(json!(rules)),
        options: Set(json!(options)),
        start_ts: Set(start_ts.unwrap_or(0) as i64),
        state: Set(ChangefeedState::Initial.as_str().to_owned()),
        desired: Set(if input.start_paused {
            "stopped"
        } else {
            "running"
        }
        .to_owned()),
        error_message: Set(None),
        error_at: Set(None),
        error_since: Set(None),
        checkpoint: Set(None),
        checkpoint_ts: Set(0),
        fetched_ts: Set(0),
        upstream_ts: Set(0),
        server_id: Set(server_id_for(&id)),
        owner: Set(None),
        lease_until: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    };
    let txn = store.db.begin().await?;
    let model = model.insert(&txn).await?;
    let task = record_task(
        &txn,
        &model.id,
        TaskKind::ChangefeedCreate,
        json!({}),
        created_by,
        request_id,
    )
    .await?;
    txn.commit().await?;
    enqueue(store, &task).await;
    Ok((model, task))
}

/// Records an operation (pause, resume, update, delete) unless another one is
/// in flight on the same changefeed. Returns the changefeed as it was before.
pub async fn operate(
    store: &Store,
    id: &str,
    kind: TaskKind,
    payload: Value,
    created_by: &str,
    request_id: Option<String>,
) -> Result<(Model, Task), ChangefeedError> {
    let txn = store.db.begin().await?;
    store.lock(&txn, &format!("changefeed:{id}")).await?;
    let model = get(&txn, id).await?;
    if !unsteady(&txn, &[id.to_owned()]).await?.is_empty() {
        return Err(ChangefeedError::Conflict(format!(
            "changefeed {id} has an operation in progress; retry when it is done"
        )));
    }
    let state = ChangefeedState::parse(&model.state).unwrap_or(ChangefeedState::Initial);
    if kind == TaskKind::ChangefeedResume && state == ChangefeedState::Initial {
        return Err(ChangefeedError::Conflict(format!(
            "changefeed {id} is Initial: it starts when its creation finishes"
        )));
    }
    let task = record_task(&txn, id, kind, payload, created_by, request_id).await?;
    txn.commit().await?;
    enqueue(store, &task).await;
    Ok((model, task))
}

/// Validates an update request into the patch its task will apply.
pub async fn validate_patch(
    store: &Store,
    current: &Model,
    input: ChangefeedInput,
) -> Result<ChangefeedPatch, ChangefeedError> {
    let name = match input.name {
        Some(n) => Some(validate_name(Some(&n))?),
        None => None,
    };
    let rules = match input.rules {
        Some(r) => Some(validate_rules(Some(r))?),
        None => None,
    };
    let downstream_type = match input.downstream_type.as_deref() {
        Some(t) => Some(validate_downstream_type(Some(t))?),
        None => None,
    };
    let effective_type = downstream_type
        .clone()
        .unwrap_or_else(|| current.downstream_type.clone());
    let (downstream, downstream_secret, options) = match input.downstream {
        Some(d) => {
            let current_options: ChangefeedOptions =
                serde_json::from_value(current.options.clone()).map_err(|e| {
                    ChangefeedError::Invalid(format!("stored options unreadable: {e}"))
                })?;
            let (d, s, o) =
                split_downstream(store, &effective_type, d, current_options.force).await?;
            (Some(d), s, Some(o))
        }
        None if downstream_type.is_some() => {
            return Err(ChangefeedError::Invalid(
                "downstream is required when downstreamType changes".into(),
            ));
        }
        None => (None, None, None),
    };
    Ok(ChangefeedPatch {
        name,
        rules,
        downstream_type,
        downstream,
        downstream_secret,
        options,
    })
}

async fn record_task(
    db: &impl ConnectionTrait,
    id: &str,
    kind: TaskKind,
    payload: Value,
    created_by: &str,
    request_id: Option<String>,
) -> Result<Task, DbErr> {
    let new = NewTask {
        kind,
        cluster_id: None,
        subject: Some(id.to_owned()),
        payload,
        max_attempts: None,
        created_by: created_by.to_owned(),
        request_id,
    };
    tasks::new_model(&new, jobs::policy(kind).max_attempts)
        .insert(db)
        .await
}

/// The row is recorded; a failed push is retried by the stale-task sweep.
async fn enqueue(store: &Store, task: &Task) {
    if let Err(err) = queue::push(store, task).await {
        tracing::warn!(task_id = %task.id, error = %err, "enqueueing a changefeed task failed; the sweep will retry");
    }
}

/// A stable server id per changefeed, away from small ids that real replicas
/// usually take.
fn server_id_for(id: &str) -> i64 {
    let hash = id
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    i64::from(100_000 + hash % 1_000_000_000)
}

async fn upstream_cluster(
    store: &Store,
    cluster_id: &str,
) -> Result<clusters::ClusterView, ChangefeedError> {
    let id = clusters::parse_id(cluster_id).ok_or_else(|| {
        ChangefeedError::Invalid(format!("clusterId `{cluster_id}`: no such cluster"))
    })?;
    let view = clusters::get(store, id).await.map_err(|e| match e {
        ClusterError::NotFound => {
            ChangefeedError::Invalid(format!("clusterId `{cluster_id}`: no such cluster"))
        }
        other => other.into(),
    })?;
    if view.kind != ClusterKind::Mysql {
        return Err(ChangefeedError::Invalid(format!(
            "clusterId `{cluster_id}` is a {} cluster; the upstream must be a mysql cluster",
            view.kind.as_str()
        )));
    }
    Ok(view)
}

fn validate_name(name: Option<&str>) -> Result<String, ChangefeedError> {
    let name = name.map(str::trim).unwrap_or_default();
    if name.is_empty() || name.len() > 128 {
        return Err(ChangefeedError::Invalid(
            "name is required (1-128 characters)".into(),
        ));
    }
    Ok(name.to_owned())
}

fn validate_downstream_type(t: Option<&str>) -> Result<String, ChangefeedError> {
    match t {
        None | Some("") => Err(ChangefeedError::Invalid(
            "downstreamType is required: tidb, mysql or kafka".into(),
        )),
        Some(t) if DOWNSTREAM_TYPES.contains(&t) => Ok(t.to_owned()),
        Some(t) => Err(ChangefeedError::Invalid(format!(
            "downstreamType `{t}` is not one of tidb, mysql, kafka"
        ))),
    }
}

fn validate_rules(rules: Option<Vec<String>>) -> Result<Vec<String>, ChangefeedError> {
    let rules = rules
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| vec!["*.*".to_owned()]);
    TableFilter::parse(&rules).map_err(|e| ChangefeedError::Invalid(format!("rules: {e}")))?;
    Ok(rules)
}

fn validate_start_ts(ts: Option<&str>) -> Result<Option<u64>, ChangefeedError> {
    let Some(ts) = ts.map(str::trim).filter(|t| !t.is_empty() && *t != "0") else {
        return Ok(None);
    };
    let tso: u64 = ts.parse().map_err(|_| {
        ChangefeedError::Invalid(format!("startTS `{ts}` is not a TSO (an unsigned integer)"))
    })?;
    let now = tso::from_unix_ms(Utc::now().timestamp_millis() as u64);
    if tso > now {
        return Err(ChangefeedError::Invalid(format!(
            "startTS `{ts}` is in the future"
        )));
    }
    Ok(Some(tso))
}
