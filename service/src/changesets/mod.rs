//! Changesets (docs/CHANGESETS.md): a desired-state document for one Kafka
//! cluster, planned against the live cluster, reviewed, and applied as
//! ordinary tasks under one `changeset.apply` task; watched for drift.
//!
//! - `document.rs`: the request's document checked into a `DesiredState`.
//! - `live.rs`: what the cluster and the registry hold now.
//! - `diff.rs`: the plan, a pure function of the two (its rules in its doc).
//! - `steps.rs`: a plan's changes submitted as tasks, phase by phase.
//! - `drift.rs`: drift checks, on demand and when due.
//!
//! This module is the changeset's life: planned (or refused), applied (or
//! awaiting a second token's approval, or stale when the cluster moved
//! since the plan), applying, applied or failed (resumable), superseded by
//! the next applied changeset of its name. Every transition is one
//! conditional update, so two callers cannot both move a changeset on.

pub mod diff;
pub mod document;
mod drift;
pub mod live;
pub mod steps;

use chrono::Utc;
use ferry_entity::{
    ClusterId, TaskKind,
    changeset::{self, ActiveModel, ChangesetStatus, DesiredState, Model, Plan, Steps},
    payload::ChangesetPayload,
};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect,
};

use self::live::Live;
pub use self::{
    document::{ChangefeedFields, DocumentInput},
    drift::{check_drift, claim_due_drift, record_drift, submit_drift},
};
use crate::{
    access::Identity,
    error::ServiceError,
    kafka::KafkaClients,
    store::Store,
    tasks::{NewTask, Requester, submit::Submission},
};

/// What a list asks for.
#[derive(Debug, Clone, Default)]
pub struct ChangesetFilter {
    pub cluster: Option<ClusterId>,
    pub name: Option<String>,
    pub status: Option<ChangesetStatus>,
    /// A project token sees its project's changesets only.
    pub project: Option<String>,
}

pub async fn get(db: &impl ConnectionTrait, id: &str) -> Result<Model, ServiceError> {
    changeset::Entity::find_by_id(id.to_owned())
        .one(db)
        .await?
        .ok_or_else(|| ServiceError::not_found(format!("changeset {id} not found")))
}

/// One page, newest first, with the total.
pub async fn list(
    db: &impl ConnectionTrait,
    filter: &ChangesetFilter,
    page: u64,
    page_size: u64,
) -> Result<(Vec<Model>, u64), ServiceError> {
    let mut query = changeset::Entity::find();
    if let Some(cluster) = filter.cluster {
        query = query.filter(changeset::Column::ClusterId.eq(cluster));
    }
    if let Some(name) = &filter.name {
        query = query.filter(changeset::Column::Name.eq(name.clone()));
    }
    if let Some(status) = filter.status {
        query = query.filter(changeset::Column::Status.eq(status));
    }
    if let Some(project) = &filter.project {
        query = query.filter(changeset::Column::ProjectId.eq(project.clone()));
    }
    let total = query.clone().count(db).await?;
    let rows = query
        .order_by_desc(changeset::Column::CreatedAt)
        .order_by_desc(changeset::Column::Id)
        .offset(page.saturating_sub(1).saturating_mul(page_size))
        .limit(page_size)
        .all(db)
        .await?;
    Ok((rows, total))
}

/// The document of the last applied changeset of `name` on `cluster`: what
/// a new one may delete.
pub async fn previous(
    db: &impl ConnectionTrait,
    cluster: ClusterId,
    name: &str,
) -> Result<Option<DesiredState>, ServiceError> {
    Ok(changeset::Entity::find()
        .filter(changeset::Column::ClusterId.eq(cluster))
        .filter(changeset::Column::Name.eq(name))
        .filter(
            changeset::Column::Status
                .is_in([ChangesetStatus::Applied, ChangesetStatus::Superseded]),
        )
        .order_by_desc(changeset::Column::AppliedAt)
        .one(db)
        .await?
        .map(|m| m.document))
}

/// Plans a document and records the changeset (`planned`, or `refused`
/// when a change cannot be applied). Writes nothing else.
pub async fn plan(
    store: &Store,
    kafka: &KafkaClients,
    identity: &Identity,
    input: DocumentInput,
) -> Result<Model, ServiceError> {
    let doc = document::check(store, identity, input)?;
    identity.see_cluster(doc.cluster)?;
    let previous = previous(&store.db, doc.cluster, &doc.name).await?;
    let live = live::read(store, kafka, doc.cluster, &doc.desired, previous.as_ref()).await?;
    let plan = diff::plan(&doc.desired, previous.as_ref(), &live, doc.allow_delete);
    let now = Utc::now();
    let model = Model {
        id: uuid::Uuid::now_v7().to_string(),
        name: doc.name,
        cluster_id: doc.cluster,
        project_id: identity.project_id().map(str::to_owned),
        status: if plan.is_refused() {
            ChangesetStatus::Refused
        } else {
            ChangesetStatus::Planned
        },
        document: doc.desired,
        plan,
        steps: Steps::default(),
        allow_delete: doc.allow_delete,
        require_approval: doc.require_approval,
        watch: doc.watch,
        revert: doc.revert,
        planned_by: identity.name.clone(),
        planned_by_token: identity.token_id.clone(),
        applied_by: None,
        applied_by_token: None,
        approved_by: None,
        apply_task_id: None,
        drift: None,
        drift_due_at: None,
        created_at: now,
        updated_at: now,
        applied_at: None,
    };
    changeset::Entity::insert(ActiveModel::from(model.clone()))
        .exec_without_returning(&store.db)
        .await?;
    Ok(model)
}

/// The plan of a changeset's document against the cluster as it is now.
pub async fn replan(
    store: &Store,
    kafka: &KafkaClients,
    model: &Model,
) -> Result<(Plan, Live), ServiceError> {
    let previous = previous(&store.db, model.cluster_id, &model.name).await?;
    // The changeset itself may be the last applied one (a drift check).
    let previous = previous.filter(|p| *p != model.document);
    let live = live::read(
        store,
        kafka,
        model.cluster_id,
        &model.document,
        previous.as_ref(),
    )
    .await?;
    let plan = diff::plan(
        &model.document,
        previous.as_ref(),
        &live,
        model.allow_delete,
    );
    Ok((plan, live))
}

/// Applies a planned changeset: after checking that the cluster still
/// matches its plan, it waits for approval or its `changeset.apply` task is
/// submitted.
pub async fn apply(
    store: &Store,
    kafka: &KafkaClients,
    identity: &Identity,
    who: &Requester,
    id: &str,
) -> Result<Model, ServiceError> {
    let model = owned(store, identity, id).await?;
    match model.status {
        ChangesetStatus::Planned => {}
        ChangesetStatus::Refused => {
            return Err(ServiceError::conflict(format!(
                "changeset {id} is refused: {}",
                refusals(&model.plan)
            )));
        }
        other => {
            return Err(ServiceError::conflict(format!(
                "changeset {id} is {other}: only a planned changeset can be applied"
            )));
        }
    }
    let (now_plan, _) = replan(store, kafka, &model).await?;
    if now_plan != model.plan {
        transition(store, &model, ChangesetStatus::Planned, |m| {
            m.status = Set(ChangesetStatus::Stale);
        })
        .await?;
        return Err(ServiceError::conflict(format!(
            "changeset {id} is stale: the cluster changed since it was planned ({}); plan again",
            first_difference(&model.plan, &now_plan)
        )));
    }
    if model.require_approval {
        let model = transition(store, &model, ChangesetStatus::Planned, |m| {
            m.status = Set(ChangesetStatus::AwaitingApproval);
            m.applied_by = Set(Some(identity.name.clone()));
            m.applied_by_token = Set(Some(identity.token_id.clone()));
        })
        .await?;
        return Ok(model);
    }
    start(store, &model, ChangesetStatus::Planned, who, |m| {
        m.applied_by = Set(Some(identity.name.clone()));
        m.applied_by_token = Set(Some(identity.token_id.clone()));
    })
    .await
}

/// Approves a changeset awaiting approval, by another token than the one
/// that planned or applied it, and starts it.
pub async fn approve(
    store: &Store,
    identity: &Identity,
    who: &Requester,
    id: &str,
) -> Result<Model, ServiceError> {
    let model = owned(store, identity, id).await?;
    if model.status != ChangesetStatus::AwaitingApproval {
        return Err(ServiceError::conflict(format!(
            "changeset {id} is {}: only a changeset awaiting approval can be approved",
            model.status
        )));
    }
    if identity.token_id == model.planned_by_token
        || model.applied_by_token.as_deref() == Some(identity.token_id.as_str())
    {
        return Err(ServiceError::forbidden(
            "a changeset is approved by another token than the one that planned or applied it",
        ));
    }
    start(store, &model, ChangesetStatus::AwaitingApproval, who, |m| {
        m.approved_by = Set(Some(identity.name.clone()));
    })
    .await
}

/// Resumes a failed changeset: a new `changeset.apply` task skips the steps
/// that succeeded and the changes the cluster already shows done.
pub async fn resume(
    store: &Store,
    identity: &Identity,
    who: &Requester,
    id: &str,
) -> Result<Model, ServiceError> {
    let model = owned(store, identity, id).await?;
    if model.status != ChangesetStatus::Failed {
        return Err(ServiceError::conflict(format!(
            "changeset {id} is {}: only a failed changeset can be resumed",
            model.status
        )));
    }
    start(store, &model, ChangesetStatus::Failed, who, |_| {}).await
}

/// Sets whether an applied changeset is watched for drift, and reverted.
pub async fn set_watch(
    store: &Store,
    identity: &Identity,
    id: &str,
    watch: bool,
    revert: bool,
) -> Result<Model, ServiceError> {
    let model = owned(store, identity, id).await?;
    if revert && !watch {
        return Err(ServiceError::invalid(
            "revert needs watch: only a watched changeset is checked for drift",
        ));
    }
    if watch && model.status != ChangesetStatus::Applied {
        return Err(ServiceError::conflict(format!(
            "changeset {id} is {}: only the applied changeset of a name is watched",
            model.status
        )));
    }
    transition(store, &model, model.status, |m| {
        m.watch = Set(watch);
        m.revert = Set(revert);
        m.drift_due_at = Set(watch.then(Utc::now));
    })
    .await
}

/// Records steps the apply submitted (after the ones it already had).
pub async fn record_steps(store: &Store, id: &str, steps: &Steps) -> Result<(), ServiceError> {
    changeset::Entity::update_many()
        .col_expr(
            changeset::Column::Steps,
            sea_orm::sea_query::Expr::value(serde_json::to_value(steps).unwrap_or_default()),
        )
        .col_expr(
            changeset::Column::UpdatedAt,
            sea_orm::sea_query::Expr::value(Utc::now()),
        )
        .filter(changeset::Column::Id.eq(id))
        .exec(&store.db)
        .await?;
    Ok(())
}

/// Ends an apply: `Applied` (the previous applied changeset of the name is
/// superseded and no longer watched), `Failed` or `Stale`.
pub async fn finish(
    store: &Store,
    model: &Model,
    status: ChangesetStatus,
) -> Result<Model, ServiceError> {
    let now = Utc::now();
    if status == ChangesetStatus::Applied {
        changeset::Entity::update_many()
            .col_expr(
                changeset::Column::Status,
                sea_orm::sea_query::Expr::value(ChangesetStatus::Superseded),
            )
            .col_expr(
                changeset::Column::Watch,
                sea_orm::sea_query::Expr::value(false),
            )
            .col_expr(
                changeset::Column::Revert,
                sea_orm::sea_query::Expr::value(false),
            )
            .filter(changeset::Column::ClusterId.eq(model.cluster_id))
            .filter(changeset::Column::Name.eq(model.name.clone()))
            .filter(changeset::Column::Status.eq(ChangesetStatus::Applied))
            .filter(changeset::Column::Id.ne(model.id.clone()))
            .exec(&store.db)
            .await?;
    }
    let watch = model.watch;
    transition(store, model, ChangesetStatus::Applying, |m| {
        m.status = Set(status);
        if status == ChangesetStatus::Applied {
            m.applied_at = Set(Some(now));
            m.drift_due_at = Set(watch.then_some(now));
        }
    })
    .await
}

fn lock_name(id: &str) -> String {
    format!("changeset:{id}")
}

/// A changeset the caller may act on: a project token only its project's.
async fn owned(store: &Store, identity: &Identity, id: &str) -> Result<Model, ServiceError> {
    let model = get(&store.db, id).await?;
    if !identity.owns(model.project_id.as_deref()) {
        return Err(ServiceError::not_found(format!("changeset {id} not found")));
    }
    Ok(model)
}

/// Moves a changeset from `from` with `change`, or refuses when another
/// caller moved it first.
async fn transition(
    store: &Store,
    model: &Model,
    from: ChangesetStatus,
    change: impl FnOnce(&mut ActiveModel),
) -> Result<Model, ServiceError> {
    let mut active = model.clone().into_active_model();
    change(&mut active);
    active.updated_at = Set(Utc::now());
    conditional_update(&store.db, model, from, active).await?;
    get(&store.db, &model.id).await
}

/// Writes `active`'s set fields if the changeset is still `from`.
async fn conditional_update(
    db: &impl ConnectionTrait,
    model: &Model,
    from: ChangesetStatus,
    active: ActiveModel,
) -> Result<(), ServiceError> {
    let result = changeset::Entity::update_many()
        .set(active)
        .filter(changeset::Column::Id.eq(model.id.clone()))
        .filter(changeset::Column::Status.eq(from))
        .exec(db)
        .await?;
    if result.rows_affected != 1 {
        return Err(ServiceError::conflict(format!(
            "changeset {} changed meanwhile; read it again",
            model.id
        )));
    }
    Ok(())
}

/// Submits the `changeset.apply` task and moves the changeset to
/// `Applying`, in one transaction.
async fn start(
    store: &Store,
    model: &Model,
    from: ChangesetStatus,
    who: &Requester,
    change: impl FnOnce(&mut ActiveModel),
) -> Result<Model, ServiceError> {
    let submission = Submission::begin(store).await?;
    let new = NewTask::new(
        TaskKind::ChangesetApply,
        &ChangesetPayload {
            changeset_id: model.id.clone(),
        },
        who,
    )
    .on_cluster(model.cluster_id)
    .about(&model.id);
    let task = submission.record(vec![new], 1).await?.remove(0);
    let mut active = model.clone().into_active_model();
    change(&mut active);
    active.status = Set(ChangesetStatus::Applying);
    active.apply_task_id = Set(Some(task.id.clone()));
    active.updated_at = Set(Utc::now());
    conditional_update(submission.txn(), model, from, active).await?;
    submission.commit().await?;
    get(&store.db, &model.id).await
}

/// The refused changes, for a message.
pub fn refusals(plan: &Plan) -> String {
    plan.changes
        .iter()
        .filter_map(|c| {
            c.refused
                .as_ref()
                .map(|r| format!("{} `{}`: {r}", c.resource.as_str(), c.name))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The first change that differs between two plans, for a message.
pub fn first_difference(before: &Plan, now: &Plan) -> String {
    for (i, change) in now.changes.iter().enumerate() {
        match before.changes.get(i) {
            Some(old) if old == change => continue,
            Some(old) => {
                return format!(
                    "{} `{}` was planned as {} and is now {}",
                    old.resource.as_str(),
                    old.name,
                    old.action.as_str(),
                    change.action.as_str()
                );
            }
            None => {
                return format!(
                    "{} `{}` is new to the plan",
                    change.resource.as_str(),
                    change.name
                );
            }
        }
    }
    "the plan lost changes".to_owned()
}
