//! The changefeed rows' ownership and progress columns, written only by the
//! supervisor of the worker that holds the lease. Every write is conditional
//! on `owner = this worker`, so a worker that lost its lease (paused by a
//! long GC, cut off from the database) can never overwrite a newer owner.

use chrono::{DateTime, Duration, Utc};
use ferry_entity::{
    ChangefeedState, Desired,
    changefeed::{self, Entity as Changefeeds, Model},
};
use sea_orm::{
    ColumnTrait, Condition, DbErr, EntityTrait, QueryFilter, QuerySelect, sea_query::Expr,
};
use serde_json::json;

use super::engine::Progress;
use ferry_service::store::Store;

fn unowned_or_expired(now: DateTime<Utc>) -> Condition {
    Condition::any()
        .add(changefeed::Column::Owner.is_null())
        .add(changefeed::Column::LeaseUntil.lt(now))
}

/// Changefeeds that should run and that no live worker holds.
pub async fn claimable(store: &Store, limit: u64) -> Result<Vec<String>, DbErr> {
    let rows = Changefeeds::find()
        .filter(changefeed::Column::Desired.eq(Desired::Running))
        .filter(changefeed::Column::State.ne(ChangefeedState::Initial))
        .filter(unowned_or_expired(Utc::now()))
        .limit(limit)
        .all(&store.db)
        .await?;
    Ok(rows.into_iter().map(|m| m.id).collect())
}

/// Takes the lease if nobody holds it; true when this worker now owns it.
pub async fn acquire(store: &Store, id: &str, me: &str, lease: Duration) -> Result<bool, DbErr> {
    let now = Utc::now();
    let res = Changefeeds::update_many()
        .col_expr(changefeed::Column::Owner, Expr::value(me))
        .col_expr(changefeed::Column::LeaseUntil, Expr::value(now + lease))
        .filter(changefeed::Column::Id.eq(id))
        .filter(changefeed::Column::Desired.eq(Desired::Running))
        .filter(unowned_or_expired(now))
        .exec(&store.db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Extends the lease; false when it was lost.
pub async fn renew(store: &Store, id: &str, me: &str, lease: Duration) -> Result<bool, DbErr> {
    let res = Changefeeds::update_many()
        .col_expr(
            changefeed::Column::LeaseUntil,
            Expr::value(Utc::now() + lease),
        )
        .filter(changefeed::Column::Id.eq(id))
        .filter(changefeed::Column::Owner.eq(me))
        .exec(&store.db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Gives the lease up; a changefeed asked to stop becomes Stopped.
pub async fn release(store: &Store, id: &str, me: &str) -> Result<(), DbErr> {
    let owned = Changefeeds::find_by_id(id.to_owned())
        .filter(changefeed::Column::Owner.eq(me))
        .one(&store.db)
        .await?;
    let Some(model) = owned else { return Ok(()) };
    let mut update = Changefeeds::update_many()
        .col_expr(
            changefeed::Column::Owner,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            changefeed::Column::LeaseUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(changefeed::Column::UpdatedAt, Expr::value(Utc::now()));
    let running_state = matches!(
        model.state,
        ChangefeedState::Normal | ChangefeedState::Error
    );
    if model.desired != Desired::Running && running_state {
        update = update.col_expr(
            changefeed::Column::State,
            Expr::value(ChangefeedState::Stopped),
        );
    }
    update
        .filter(changefeed::Column::Id.eq(id))
        .filter(changefeed::Column::Owner.eq(me))
        .exec(&store.db)
        .await?;
    Ok(())
}

/// Persists the engine's progress and marks the changefeed healthy; false
/// when the lease was lost.
pub async fn record_progress(
    store: &Store,
    id: &str,
    me: &str,
    p: &Progress,
) -> Result<bool, DbErr> {
    let res = Changefeeds::update_many()
        .col_expr(
            changefeed::Column::Checkpoint,
            Expr::value(json!(p.checkpoint)),
        )
        .col_expr(
            changefeed::Column::CheckpointTs,
            Expr::value(p.checkpoint.tso as i64),
        )
        .col_expr(
            changefeed::Column::FetchedTs,
            Expr::value(p.fetched_tso as i64),
        )
        .col_expr(
            changefeed::Column::UpstreamTs,
            Expr::value(p.upstream_tso as i64),
        )
        .col_expr(changefeed::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(changefeed::Column::Id.eq(id))
        .filter(changefeed::Column::Owner.eq(me))
        .exec(&store.db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// The engine runs without error: state Normal, error cleared.
pub async fn mark_healthy(store: &Store, id: &str, me: &str) -> Result<(), DbErr> {
    Changefeeds::update_many()
        .col_expr(
            changefeed::Column::State,
            Expr::value(ChangefeedState::Normal),
        )
        .col_expr(
            changefeed::Column::ErrorSince,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(changefeed::Column::Id.eq(id))
        .filter(changefeed::Column::Owner.eq(me))
        .filter(changefeed::Column::Desired.eq(Desired::Running))
        .filter(changefeed::Column::State.eq(ChangefeedState::Error))
        .exec(&store.db)
        .await?;
    Ok(())
}

/// Records a retryable failure (state Error). Returns when the current streak
/// of errors began.
pub async fn mark_error(
    store: &Store,
    id: &str,
    me: &str,
    message: &str,
) -> Result<DateTime<Utc>, DbErr> {
    let now = Utc::now();
    let since = current(store, id)
        .await?
        .and_then(|m| m.error_since)
        .unwrap_or(now);
    Changefeeds::update_many()
        .col_expr(
            changefeed::Column::State,
            Expr::value(ChangefeedState::Error),
        )
        .col_expr(changefeed::Column::ErrorMessage, Expr::value(message))
        .col_expr(changefeed::Column::ErrorAt, Expr::value(now))
        .col_expr(changefeed::Column::ErrorSince, Expr::value(since))
        .col_expr(changefeed::Column::UpdatedAt, Expr::value(now))
        .filter(changefeed::Column::Id.eq(id))
        .filter(changefeed::Column::Owner.eq(me))
        .filter(changefeed::Column::Desired.eq(Desired::Running))
        .exec(&store.db)
        .await?;
    Ok(since)
}

/// Gives up: state Failed with the reason; the changefeed stays stopped until
/// a user resumes it.
pub async fn mark_failed(store: &Store, id: &str, me: &str, message: &str) -> Result<(), DbErr> {
    let now = Utc::now();
    Changefeeds::update_many()
        .col_expr(
            changefeed::Column::State,
            Expr::value(ChangefeedState::Failed),
        )
        .col_expr(changefeed::Column::Desired, Expr::value(Desired::Stopped))
        .col_expr(changefeed::Column::ErrorMessage, Expr::value(message))
        .col_expr(changefeed::Column::ErrorAt, Expr::value(now))
        .col_expr(changefeed::Column::UpdatedAt, Expr::value(now))
        .filter(changefeed::Column::Id.eq(id))
        .filter(changefeed::Column::Owner.eq(me))
        .exec(&store.db)
        .await?;
    Ok(())
}

pub async fn current(store: &Store, id: &str) -> Result<Option<Model>, DbErr> {
    Changefeeds::find_by_id(id.to_owned()).one(&store.db).await
}
