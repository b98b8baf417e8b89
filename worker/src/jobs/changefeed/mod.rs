//! `changefeed.create`, `.pause`, `.resume`, `.update` and `.delete`, a
//! module each, and what they share.
//!
//! These jobs change what a changefeed should be doing (its `desired` state
//! and configuration); the supervisor of whichever worker holds the lease
//! makes the engine follow. Pausing waits until the owner has stopped the
//! engine and released the lease, so that when a pause task succeeds the
//! downstream no longer changes.

use std::time::Duration;

use chrono::{DateTime, Utc};
use ferry_entity::{
    ChangefeedState, Desired,
    changefeed::{self, Entity as Changefeeds, Model},
    payload::Checkpoint,
};
use ferry_service::{
    changefeeds::{self, filter::TableFilter, spec::Downstream},
    error::ErrorKind,
    store::Store,
};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};

use super::{JobContext, JobError};
use crate::replication::{precheck, supervisor};

pub mod create;
pub mod delete;
pub mod pause;
pub mod resume;
mod topic;
pub mod update;

/// What becomes of a changefeed whose operation task failed for good: one
/// whose creation never finished leaves `Initial` for `Failed`, with the
/// task's reason, rather than wait forever for a start that will not come.
/// (A precheck that refused the changefeed removed it already.)
pub async fn failed(
    db: &impl sea_orm::ConnectionTrait,
    task: &ferry_entity::task::Model,
    reason: &str,
) -> Result<(), sea_orm::DbErr> {
    if task.kind != ferry_entity::TaskKind::ChangefeedCreate {
        return Ok(());
    }
    let Some(id) = &task.subject else {
        return Ok(());
    };
    Changefeeds::update_many()
        .col_expr(
            changefeed::Column::State,
            Expr::value(ChangefeedState::Failed),
        )
        .col_expr(changefeed::Column::Desired, Expr::value(Desired::Stopped))
        .col_expr(changefeed::Column::ErrorMessage, Expr::value(reason))
        .col_expr(changefeed::Column::ErrorAt, Expr::value(Utc::now()))
        .col_expr(changefeed::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(changefeed::Column::Id.eq(id))
        .filter(changefeed::Column::State.eq(ChangefeedState::Initial))
        .exec(db)
        .await?;
    Ok(())
}

/// How long a pause waits for the owning worker to stop the engine.
const RELEASE_TIMEOUT: Duration = Duration::from_secs(60);

/// The changefeed a task operates on (its subject).
fn changefeed_id(ctx: &JobContext<'_>) -> Result<String, JobError> {
    ctx.task
        .subject
        .clone()
        .ok_or_else(|| JobError::Permanent("changefeed task without a changefeed id".into()))
}

async fn load(store: &Store, id: &str) -> Result<Model, JobError> {
    changefeeds::get(&store.db, id)
        .await
        .map_err(|e| match e.kind() {
            ErrorKind::NotFound => JobError::Permanent(format!("changefeed {id} no longer exists")),
            _ => e.into(),
        })
}

/// A stored column that does not parse: the operation fails with it.
fn unreadable(err: changefeed::StoredColumnError) -> JobError {
    JobError::Permanent(err.to_string())
}

/// Runs the prechecks of a changefeed's configuration; with `start`, also
/// finds where replication begins. A Kafka downstream's topic is created
/// here when missing, by a `topic.create` task on behalf of the task.
async fn prepare(
    ctx: &JobContext<'_>,
    model: &Model,
    start: bool,
) -> Result<Option<Checkpoint>, JobError> {
    let store = ctx.store;
    let (upstream, downstream) = changefeeds::endpoints(store, model).await?;
    precheck::check_upstream(&upstream)
        .await
        .map_err(|e| JobError::Permanent(format!("upstream: {e}")))?;
    // Kafka consumers get every change of a keyless table as well (with
    // possible duplicates, like every row after a replay); only a SQL
    // downstream needs a key to apply changes exactly once.
    let needs_keys = match &downstream {
        Downstream::Mysql(endpoint) => {
            precheck::check_downstream(endpoint)
                .await
                .map_err(|e| JobError::Permanent(format!("downstream: {e}")))?;
            true
        }
        Downstream::Kafka(_) => {
            let kafka = changefeeds::kafka_of(model)?;
            let created =
                topic::prepare(store, &ctx.resources.kafka, &kafka, &model.id, ctx.task).await?;
            if created {
                tracing::info!(changefeed = %model.id, topic = %kafka.topic, "created the changefeed's topic");
            }
            false
        }
    };
    let rules = model.rules().map_err(unreadable)?;
    let filter =
        TableFilter::parse(&rules).map_err(|e| JobError::Permanent(format!("rules: {e}")))?;
    let options = model.options().map_err(unreadable)?;
    if needs_keys && !options.force {
        let keyless = precheck::tables_without_key(&upstream, &filter)
            .await
            .map_err(|e| JobError::Permanent(format!("upstream: {e}")))?;
        if !keyless.is_empty() {
            return Err(JobError::Permanent(format!(
                "tables without a primary key or a not-null unique key cannot be replicated exactly: {} (exclude them with rules, or force)",
                keyless.join(", ")
            )));
        }
    }
    if !start {
        return Ok(None);
    }
    let checkpoint = if model.start_ts > 0 {
        precheck::resolve_start(&upstream, model.start_ts as u64).await
    } else {
        precheck::current_position(&upstream).await
    };
    checkpoint
        .map(Some)
        .map_err(|e| JobError::Permanent(format!("startTS: {e}")))
}

/// Asks the owner to stop the engine and waits until no worker runs it.
async fn stop_and_wait(store: &Store, id: &str) -> Result<(), JobError> {
    Changefeeds::update_many()
        .col_expr(changefeed::Column::Desired, Expr::value(Desired::Stopped))
        .col_expr(changefeed::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(changefeed::Column::Id.eq(id))
        .exec(&store.db)
        .await?;
    supervisor::wake();
    let deadline = tokio::time::Instant::now() + RELEASE_TIMEOUT;
    loop {
        let model = load(store, id).await?;
        let held =
            model.owner.is_some() && model.lease_until.is_some_and(|until| until > Utc::now());
        if !held {
            break;
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(JobError::Retryable(format!(
                "worker {} did not stop changefeed {id} within {RELEASE_TIMEOUT:?}",
                model.owner.unwrap_or_default()
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A lease that expired (its worker died) is cleared here; one released by
    // its worker already is.
    Changefeeds::update_many()
        .col_expr(
            changefeed::Column::State,
            Expr::value(ChangefeedState::Stopped),
        )
        .col_expr(
            changefeed::Column::Owner,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            changefeed::Column::LeaseUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(changefeed::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(changefeed::Column::Id.eq(id))
        .filter(changefeed::Column::Desired.eq(Desired::Stopped))
        .exec(&store.db)
        .await?;
    Ok(())
}

/// Sets the changefeed running again, clearing its error; the supervisor of
/// some worker picks it up within a second.
async fn start(store: &Store, id: &str) -> Result<(), JobError> {
    Changefeeds::update_many()
        .col_expr(changefeed::Column::Desired, Expr::value(Desired::Running))
        .col_expr(
            changefeed::Column::ResumeAfter,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            changefeed::Column::State,
            Expr::value(ChangefeedState::Normal),
        )
        .col_expr(
            changefeed::Column::ErrorMessage,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            changefeed::Column::ErrorSince,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(changefeed::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(changefeed::Column::Id.eq(id))
        .exec(&store.db)
        .await?;
    supervisor::wake();
    Ok(())
}
