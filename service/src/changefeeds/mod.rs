//! The changefeed registry: validating TiEM requests, recording changefeeds
//! and the tasks that operate on them, and reading them back. What runs a
//! changefeed lives in `ferry-worker`: each operation's job in
//! `jobs::changefeed`, the supervisor and engine in `replication`.
//!
//! - `spec`: what a changefeed replicates, resolved from its row (the
//!   engine's input); `filter`: TiDB table-filter rules; `tso`: TiDB
//!   timestamps.
//! - `downstream`, `kafka_downstream`: TiEM's downstream object checked,
//!   its password kept apart (encrypted), and both ends resolved to
//!   endpoints; `reach`: which sources and downstreams a caller may name.

use chrono::Utc;
use ferry_entity::{
    ChangefeedState, ClusterId, ClusterKind, Desired, DownstreamType, TaskKind,
    changefeed::{self, ActiveModel, Entity as Changefeeds, Model},
    payload::{ChangefeedPatch, Payload},
    task,
};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde_json::{Value, json};

use crate::{
    clusters,
    error::{ErrorKind, ServiceError},
    store::Store,
    tasks::{self, NewTask, Requester, Task, submit::Submission},
};

mod downstream;
pub mod filter;
pub mod kafka_downstream;
mod reach;
pub mod spec;
pub mod tso;

pub use reach::Reach;

use downstream::split_downstream;
pub use downstream::{downstream_view, endpoints, kafka_of};
use filter::TableFilter;

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

/// The named lock under which a changefeed's operations are checked and
/// recorded: at most one is in progress.
fn lock_name(id: &str) -> String {
    format!("changefeed:{id}")
}

pub async fn get(db: &impl ConnectionTrait, id: &str) -> Result<Model, ServiceError> {
    Changefeeds::find_by_id(id.to_owned())
        .one(db)
        .await?
        .ok_or_else(|| ServiceError::not_found(format!("changefeed {id} not found")))
}

/// One page of a cluster's changefeeds (of one project, when given),
/// newest first, with the total.
pub async fn list(
    db: &impl ConnectionTrait,
    cluster_id: Option<ClusterId>,
    project_id: Option<&str>,
    page: u64,
    page_size: u64,
) -> Result<(Vec<Model>, u64), DbErr> {
    let mut query = Changefeeds::find();
    if let Some(cluster) = cluster_id {
        query = query.filter(changefeed::Column::ClusterId.eq(cluster));
    }
    if let Some(project) = project_id {
        query = query.filter(changefeed::Column::ProjectId.eq(project));
    }
    let total = query.clone().count(db).await?;
    let rows = query
        .order_by_desc(changefeed::Column::CreatedAt)
        .order_by_desc(changefeed::Column::Id)
        .offset(page.saturating_sub(1).saturating_mul(page_size))
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
    let kinds: Vec<TaskKind> = <TaskKind as sea_orm::Iterable>::iter()
        .filter(|k| k.is_changefeed_operation())
        .collect();
    task::Entity::find()
        .select_only()
        .column(task::Column::Subject)
        .filter(task::Column::Kind.is_in(kinds))
        .filter(task::Column::Subject.is_in(ids.to_vec()))
        .filter(tasks::in_progress())
        .into_tuple::<String>()
        .all(db)
        .await
}

/// Validates a create request, records the changefeed (state Initial) and
/// its `changefeed.create` task.
pub async fn create(
    store: &Store,
    input: ChangefeedInput,
    who: &Requester,
    reach: Reach<'_>,
) -> Result<(Model, Task), ServiceError> {
    let name = validate_name(input.name.as_deref())?;
    let cluster_id = input
        .cluster_id
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .ok_or_else(|| ServiceError::invalid("clusterId is required"))?;
    let cluster_id = upstream_cluster(store, cluster_id).await?;
    reach.source(cluster_id)?;
    let downstream_type = validate_downstream_type(input.downstream_type.as_deref())?;
    let rules = validate_rules(input.rules).await?;
    let start_ts = validate_start_ts(input.start_ts.as_deref())?;
    let (downstream, secret, options) = split_downstream(
        store,
        downstream_type,
        input.downstream.unwrap_or(json!({})),
        input.force,
        reach,
    )
    .await?;
    let now = Utc::now();
    let id = uuid::Uuid::now_v7().to_string();
    let model = Model {
        id: id.clone(),
        name,
        cluster_id,
        downstream_type,
        downstream,
        downstream_secret: secret,
        rules: json!(rules),
        options: json!(options),
        start_ts: start_ts.unwrap_or(0) as i64,
        state: ChangefeedState::Initial,
        desired: if input.start_paused {
            Desired::Stopped
        } else {
            Desired::Running
        },
        error_message: None,
        error_at: None,
        error_since: None,
        checkpoint: None,
        checkpoint_ts: 0,
        fetched_ts: 0,
        upstream_ts: 0,
        server_id: server_id_for(&id),
        owner: None,
        lease_until: None,
        resume_after: None,
        project_id: who.project_id.clone(),
        created_at: now,
        updated_at: now,
    };
    let submission = Submission::begin(store).await?;
    Changefeeds::insert(ActiveModel::from(model.clone()))
        .exec_without_returning(submission.txn())
        .await?;
    let new = NewTask::new(
        TaskKind::ChangefeedCreate,
        &ferry_entity::payload::ChangefeedOperation::default(),
        who,
    )
    .about(&id);
    let mut recorded = submission.record(vec![new], 1).await?;
    submission.commit().await?;
    Ok((model, recorded.remove(0)))
}

/// Records an operation (pause, resume, update, delete) unless another one is
/// in flight on the same changefeed. Returns the changefeed as it was before.
pub async fn operate<P: Payload>(
    store: &Store,
    id: &str,
    kind: TaskKind,
    payload: &P,
    who: &Requester,
) -> Result<(Model, Task), ServiceError> {
    let submission = Submission::begin(store).await?;
    submission.lock(&lock_name(id)).await?;
    let model = get(submission.txn(), id).await?;
    if !unsteady(submission.txn(), &[id.to_owned()])
        .await?
        .is_empty()
    {
        return Err(ServiceError::busy(
            format!("changefeed {id} has an operation in progress; retry when it is done"),
            vec![id.to_owned()],
        ));
    }
    if kind == TaskKind::ChangefeedResume && model.state == ChangefeedState::Initial {
        return Err(ServiceError::conflict(format!(
            "changefeed {id} is Initial: it starts when its creation finishes"
        )));
    }
    let new = NewTask::new(kind, payload, who).about(id);
    let mut recorded = submission.record(vec![new], 1).await?;
    submission.commit().await?;
    Ok((model, recorded.remove(0)))
}

/// Validates an update request into the patch its task will apply. A new
/// downstream host, port, user or TLS setting needs the password again: the
/// stored one is never sent to a different endpoint.
pub async fn validate_patch(
    store: &Store,
    current: &Model,
    input: ChangefeedInput,
    reach: Reach<'_>,
) -> Result<ChangefeedPatch, ServiceError> {
    let name = match input.name {
        Some(n) => Some(validate_name(Some(&n))?),
        None => None,
    };
    let rules = match input.rules {
        Some(r) => Some(validate_rules(Some(r)).await?),
        None => None,
    };
    let downstream_type = match input.downstream_type.as_deref() {
        Some(t) => Some(validate_downstream_type(Some(t))?),
        None => None,
    };
    let effective_type = downstream_type.unwrap_or(current.downstream_type);
    let (downstream, downstream_secret, options) = match input.downstream {
        Some(d) => {
            let current_options = current
                .options()
                .map_err(|e| ServiceError::invalid(e.to_string()))?;
            let (d, s, o) =
                split_downstream(store, effective_type, d, current_options.force, reach).await?;
            if s.is_none() && current.downstream_secret.is_some() && endpoint_changed(current, &d) {
                return Err(ServiceError::invalid(
                    "downstream.password is required when the downstream's host, port, user or                      TLS settings change: the stored password is only sent where it was given",
                ));
            }
            (Some(d), s, Some(o))
        }
        None if downstream_type.is_some() => {
            return Err(ServiceError::invalid(
                "downstream is required when downstreamType changes",
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

/// Whether a new downstream object points somewhere else, or as someone
/// else, than the stored one.
fn endpoint_changed(current: &Model, new: &Value) -> bool {
    ["ip", "port", "username", "tls", "targetClusterId"]
        .iter()
        .any(|key| current.downstream.get(key) != new.get(key))
}

/// A stable server id per changefeed, away from small ids that real replicas
/// usually take.
fn server_id_for(id: &str) -> i64 {
    let hash = id
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    i64::from(100_000 + hash % 1_000_000_000)
}

async fn upstream_cluster(store: &Store, cluster_id: &str) -> Result<ClusterId, ServiceError> {
    let no_such = || ServiceError::invalid(format!("clusterId `{cluster_id}`: no such cluster"));
    let id = ClusterId::parse(cluster_id).ok_or_else(no_such)?;
    let view = clusters::get(store, id).await.map_err(|e| match e.kind() {
        ErrorKind::NotFound => no_such(),
        _ => e,
    })?;
    if view.kind != ClusterKind::Mysql {
        return Err(ServiceError::invalid(format!(
            "clusterId `{cluster_id}` is a {} cluster; the upstream must be a mysql cluster",
            view.kind.as_str()
        )));
    }
    Ok(id)
}

fn validate_name(name: Option<&str>) -> Result<String, ServiceError> {
    let name = name.map(str::trim).unwrap_or_default();
    if name.is_empty() || name.len() > 128 {
        return Err(ServiceError::invalid("name is required (1-128 characters)"));
    }
    Ok(name.to_owned())
}

fn validate_downstream_type(t: Option<&str>) -> Result<DownstreamType, ServiceError> {
    match t {
        None | Some("") => Err(ServiceError::invalid(
            "downstreamType is required: tidb, mysql or kafka",
        )),
        Some(t) => DownstreamType::parse(t).ok_or_else(|| {
            ServiceError::invalid(format!(
                "downstreamType `{t}` is not one of tidb, mysql, kafka"
            ))
        }),
    }
}

/// Parses the rules on the blocking pool: compiling a request's regular
/// expressions may take a while, and must not hold an async thread.
async fn validate_rules(rules: Option<Vec<String>>) -> Result<Vec<String>, ServiceError> {
    let rules = rules
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| vec!["*.*".to_owned()]);
    tokio::task::spawn_blocking(move || TableFilter::parse(&rules).map(|_| rules))
        .await
        .map_err(|e| ServiceError::unavailable("checking the rules failed", e))?
        .map_err(|e| ServiceError::invalid(format!("rules: {e}")))
}

fn validate_start_ts(ts: Option<&str>) -> Result<Option<u64>, ServiceError> {
    let Some(ts) = ts.map(str::trim).filter(|t| !t.is_empty() && *t != "0") else {
        return Ok(None);
    };
    let tso: u64 = ts.parse().map_err(|_| {
        ServiceError::invalid(format!("startTS `{ts}` is not a TSO (an unsigned integer)"))
    })?;
    let now = tso::from_unix_ms(Utc::now().timestamp_millis() as u64);
    if tso > now {
        return Err(ServiceError::invalid(format!(
            "startTS `{ts}` is in the future"
        )));
    }
    Ok(Some(tso))
}
