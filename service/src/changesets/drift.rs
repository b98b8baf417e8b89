//! Drift: a check of an applied changeset on demand or when it is due (its
//! `changeset.drift` task, one in progress at a time), the claim by which
//! one worker among many submits a due check, and the check's outcome.

use chrono::Utc;
use ferry_entity::{
    TaskKind,
    changeset::{self, ChangesetStatus, Model},
    payload::ChangesetPayload,
    task,
};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};

use super::{lock_name, owned};
use crate::{
    access::Identity,
    error::ServiceError,
    store::Store,
    tasks::{self, NewTask, Requester, Task, submit::Submission},
};

/// Submits a drift check of an applied changeset now.
pub async fn check_drift(
    store: &Store,
    identity: &Identity,
    who: &Requester,
    id: &str,
) -> Result<Task, ServiceError> {
    let model = owned(store, identity, id).await?;
    if model.status != ChangesetStatus::Applied {
        return Err(ServiceError::conflict(format!(
            "changeset {id} is {}: drift is checked against an applied changeset",
            model.status
        )));
    }
    submit_drift(store, &model, who).await
}

/// Records a `changeset.drift` task, unless one is in progress.
pub async fn submit_drift(
    store: &Store,
    model: &Model,
    who: &Requester,
) -> Result<Task, ServiceError> {
    let submission = Submission::begin(store).await?;
    submission.lock(&lock_name(&model.id)).await?;
    let busy = task::Entity::find()
        .filter(task::Column::Kind.eq(TaskKind::ChangesetDrift))
        .filter(task::Column::Subject.eq(model.id.clone()))
        .filter(tasks::in_progress())
        .one(submission.txn())
        .await?;
    if let Some(busy) = busy {
        return Err(ServiceError::busy(
            format!(
                "a drift check of changeset {} is in progress ({})",
                model.id, busy.id
            ),
            vec![model.id.clone()],
        ));
    }
    let new = NewTask::new(
        TaskKind::ChangesetDrift,
        &ChangesetPayload {
            changeset_id: model.id.clone(),
        },
        who,
    )
    .on_cluster(model.cluster_id)
    .about(&model.id);
    let mut recorded = submission.record(vec![new], 1).await?;
    submission.commit().await?;
    Ok(recorded.remove(0))
}

/// The watched changesets due for a drift check, each claimed (its next
/// check moved `interval` ahead) by one conditional update, so that one
/// worker among many submits its check.
pub async fn claim_due_drift(
    store: &Store,
    interval: std::time::Duration,
) -> Result<Vec<Model>, ServiceError> {
    let now = Utc::now();
    let due = changeset::Entity::find()
        .filter(changeset::Column::Watch.eq(true))
        .filter(changeset::Column::Status.eq(ChangesetStatus::Applied))
        .filter(changeset::Column::DriftDueAt.lte(now))
        .limit(100)
        .all(&store.db)
        .await?;
    let next = now + chrono::Duration::from_std(interval).unwrap_or(chrono::Duration::seconds(60));
    let mut claimed = Vec::new();
    for model in due {
        let result = changeset::Entity::update_many()
            .col_expr(
                changeset::Column::DriftDueAt,
                sea_orm::sea_query::Expr::value(next),
            )
            .filter(changeset::Column::Id.eq(model.id.clone()))
            .filter(changeset::Column::DriftDueAt.eq(model.drift_due_at))
            .exec(&store.db)
            .await?;
        if result.rows_affected == 1 {
            claimed.push(model);
        }
    }
    Ok(claimed)
}

/// Records a drift check's outcome.
pub async fn record_drift(
    store: &Store,
    id: &str,
    drift: changeset::Drift,
) -> Result<(), ServiceError> {
    changeset::Entity::update_many()
        .col_expr(
            changeset::Column::Drift,
            sea_orm::sea_query::Expr::value(serde_json::to_value(&drift).unwrap_or_default()),
        )
        .filter(changeset::Column::Id.eq(id))
        .exec(&store.db)
        .await?;
    Ok(())
}
