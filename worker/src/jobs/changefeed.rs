//! `changefeed.create`, `.pause`, `.resume`, `.update` and `.delete`.
//!
//! These jobs change what a changefeed should be doing (its `desired` state
//! and configuration); the supervisor of whichever worker holds the lease
//! makes the engine follow. Pausing waits until the owner has stopped the
//! engine and released the lease, so that when a pause task succeeds the
//! downstream no longer changes.

use std::time::Duration;

use chrono::Utc;
use ferry_entity::{
    ChangefeedState, TaskKind,
    changefeed::{self, Entity as Changefeeds, Model},
};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr,
};
use serde_json::{Value, json};

use super::{JobContext, JobError};
use crate::{
    changefeed::{
        engine::{Checkpoint, Downstream},
        filter::TableFilter,
        precheck, supervisor,
    },
    changefeeds::{self, ChangefeedError, ChangefeedOptions, ChangefeedPatch},
    store::Store,
    tasks::Task,
};

/// How long a pause waits for the owning worker to stop the engine.
const RELEASE_TIMEOUT: Duration = Duration::from_secs(60);

pub async fn run(kind: TaskKind, ctx: JobContext<'_>) -> Result<Value, JobError> {
    let id = ctx
        .task
        .subject
        .clone()
        .ok_or_else(|| JobError::Permanent("changefeed task without a changefeed id".into()))?;
    let store = ctx.store;
    let origin = ctx.task;
    match kind {
        TaskKind::ChangefeedCreate => create(store, origin, &id).await,
        TaskKind::ChangefeedPause => pause(store, &id)
            .await
            .map(|prev| json!({ "status": prev })),
        TaskKind::ChangefeedResume => resume(store, &id)
            .await
            .map(|prev| json!({ "status": prev })),
        TaskKind::ChangefeedUpdate => {
            let patch: ChangefeedPatch = serde_json::from_value(ctx.task.payload.clone())
                .map_err(|e| JobError::Permanent(format!("invalid update payload: {e}")))?;
            update(store, origin, &id, patch)
                .await
                .map(|prev| json!({ "status": prev }))
        }
        TaskKind::ChangefeedDelete => delete(store, &id)
            .await
            .map(|prev| json!({ "id": id, "status": prev })),
        other => Err(JobError::Permanent(format!(
            "{} is not a changefeed operation",
            other.as_str()
        ))),
    }
}

async fn load(store: &Store, id: &str) -> Result<Model, JobError> {
    changefeeds::get(&store.db, id).await.map_err(|e| match e {
        ChangefeedError::NotFound => {
            JobError::Permanent(format!("changefeed {id} no longer exists"))
        }
        other => JobError::store(other),
    })
}

fn state_of(model: &Model) -> ChangefeedState {
    ChangefeedState::parse(&model.state).unwrap_or(ChangefeedState::Initial)
}

/// Prechecks the new changefeed, fixes its start position and starts it (or
/// leaves it stopped when created paused). A failed precheck removes the
/// changefeed: it never existed as far as the caller is concerned.
async fn create(store: &Store, origin: &Task, id: &str) -> Result<Value, JobError> {
    let model = load(store, id).await?;
    if state_of(&model) != ChangefeedState::Initial {
        // An earlier attempt finished the work before its worker died.
        return Ok(json!({ "id": id, "status": model.state }));
    }
    let checkpoint = match prepare(store, origin, &model, true).await {
        Ok(cp) => cp.expect("prepare with a start position returns one"),
        Err(JobError::Permanent(reason)) => {
            Changefeeds::delete_by_id(id.to_owned())
                .exec(&store.db)
                .await
                .map_err(JobError::store)?;
            return Err(JobError::Permanent(reason));
        }
        Err(other) => return Err(other),
    };
    let state = if model.desired == "running" {
        ChangefeedState::Normal
    } else {
        ChangefeedState::Stopped
    };
    let tso = checkpoint.tso as i64;
    let mut active: changefeed::ActiveModel = model.into();
    active.checkpoint = Set(Some(json!(checkpoint)));
    active.checkpoint_ts = Set(tso);
    active.fetched_ts = Set(tso);
    active.upstream_ts = Set(tso);
    if *active.start_ts.as_ref() == 0 {
        active.start_ts = Set(tso);
    }
    active.state = Set(state.as_str().to_owned());
    active.updated_at = Set(Utc::now());
    active.update(&store.db).await.map_err(JobError::store)?;
    supervisor::wake();
    Ok(json!({ "id": id, "status": state.as_str() }))
}

/// Runs the prechecks of a changefeed's configuration; with `start`, also
/// finds where replication begins. A Kafka downstream's topic is created
/// here when missing, by a `topic.create` task on behalf of `origin`.
async fn prepare(
    store: &Store,
    origin: &Task,
    model: &Model,
    start: bool,
) -> Result<Option<Checkpoint>, JobError> {
    let (upstream, downstream) =
        changefeeds::endpoints(store, model)
            .await
            .map_err(|e| match e {
                ChangefeedError::Store(e) => JobError::store(e),
                other => JobError::Permanent(other.to_string()),
            })?;
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
            let kafka =
                changefeeds::kafka_of(model).map_err(|e| JobError::Permanent(e.to_string()))?;
            let created = kafka.prepare(store, &model.id, origin).await?;
            if created {
                tracing::info!(changefeed = %model.id, topic = %kafka.topic, "created the changefeed's topic");
            }
            false
        }
    };
    let rules: Vec<String> = serde_json::from_value(model.rules.clone()).unwrap_or_default();
    let filter =
        TableFilter::parse(&rules).map_err(|e| JobError::Permanent(format!("rules: {e}")))?;
    let options: ChangefeedOptions = serde_json::from_value(model.options.clone())
        .map_err(|e| JobError::Permanent(format!("stored options unreadable: {e}")))?;
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

/// Stops the changefeed and waits until no worker runs it. Returns the state
/// it had before.
async fn pause(store: &Store, id: &str) -> Result<String, JobError> {
    let model = load(store, id).await?;
    let previous = model.state.clone();
    if state_of(&model) == ChangefeedState::Stopped && model.desired == "stopped" {
        return Ok(previous);
    }
    stop_and_wait(store, id).await?;
    Ok(previous)
}

async fn stop_and_wait(store: &Store, id: &str) -> Result<(), JobError> {
    set_columns(store, id, &[("desired", json!("stopped"))]).await?;
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
            Expr::value(ChangefeedState::Stopped.as_str()),
        )
        .col_expr(
            changefeed::Column::Owner,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            changefeed::Column::LeaseUntil,
            Expr::value(Option::<chrono::DateTime<Utc>>::None),
        )
        .col_expr(changefeed::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(changefeed::Column::Id.eq(id))
        .filter(changefeed::Column::Desired.eq("stopped"))
        .exec(&store.db)
        .await
        .map_err(JobError::store)?;
    Ok(())
}

/// Sets the changefeed running again, clearing its error; the supervisor of
/// some worker picks it up within a second.
async fn resume(store: &Store, id: &str) -> Result<String, JobError> {
    let model = load(store, id).await?;
    let previous = model.state.clone();
    if state_of(&model) == ChangefeedState::Normal && model.desired == "running" {
        return Ok(previous);
    }
    start(store, id).await?;
    Ok(previous)
}

async fn start(store: &Store, id: &str) -> Result<(), JobError> {
    set_columns(
        store,
        id,
        &[
            ("desired", json!("running")),
            ("state", json!(ChangefeedState::Normal.as_str())),
            ("error_message", Value::Null),
            ("error_since", Value::Null),
        ],
    )
    .await?;
    supervisor::wake();
    Ok(())
}

/// Applies a validated change: a Normal changefeed is paused, changed and
/// resumed; a Stopped, Error or Failed one is changed in place.
async fn update(
    store: &Store,
    origin: &Task,
    id: &str,
    patch: ChangefeedPatch,
) -> Result<String, JobError> {
    let model = load(store, id).await?;
    let previous = model.state.clone();
    let was_running = model.desired == "running" && state_of(&model) == ChangefeedState::Normal;
    if was_running {
        stop_and_wait(store, id).await?;
    }
    let model = load(store, id).await?;
    let mut candidate = model.clone();
    apply_patch(&mut candidate, &patch);
    let checked = if patch.downstream.is_some() || patch.rules.is_some() {
        prepare(store, origin, &candidate, false).await.map(|_| ())
    } else {
        Ok(())
    };
    if let Err(err) = checked {
        if was_running {
            start(store, id).await?;
        }
        return Err(err);
    }
    let mut active: changefeed::ActiveModel = model.into();
    active.name = Set(candidate.name);
    active.rules = Set(candidate.rules);
    active.downstream_type = Set(candidate.downstream_type);
    active.downstream = Set(candidate.downstream);
    active.downstream_secret = Set(candidate.downstream_secret);
    active.options = Set(candidate.options);
    active.updated_at = Set(Utc::now());
    active.update(&store.db).await.map_err(JobError::store)?;
    if was_running {
        start(store, id).await?;
    }
    Ok(previous)
}

fn apply_patch(model: &mut Model, patch: &ChangefeedPatch) {
    if let Some(name) = &patch.name {
        model.name = name.clone();
    }
    if let Some(rules) = &patch.rules {
        model.rules = json!(rules);
    }
    if let Some(t) = &patch.downstream_type {
        model.downstream_type = t.clone();
    }
    if let Some(d) = &patch.downstream {
        model.downstream = d.clone();
        // A downstream sent without a password keeps the stored one, as
        // TiEM's update does: clients never see the password to send it back.
        if patch.downstream_secret.is_some() {
            model.downstream_secret = patch.downstream_secret.clone();
        }
    }
    if let Some(options) = &patch.options {
        let force = serde_json::from_value::<ChangefeedOptions>(model.options.clone())
            .is_ok_and(|o| o.force);
        model.options = json!(ChangefeedOptions {
            force,
            ..options.clone()
        });
    }
}

/// Stops the changefeed and removes it.
async fn delete(store: &Store, id: &str) -> Result<String, JobError> {
    let model = load(store, id).await?;
    let previous = model.state.clone();
    stop_and_wait(store, id).await?;
    Changefeeds::delete_by_id(id.to_owned())
        .exec(&store.db)
        .await
        .map_err(JobError::store)?;
    Ok(previous)
}

async fn set_columns(store: &Store, id: &str, values: &[(&str, Value)]) -> Result<(), JobError> {
    let mut update = Changefeeds::update_many()
        .col_expr(changefeed::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(changefeed::Column::Id.eq(id));
    for (column, value) in values {
        let col = match *column {
            "desired" => changefeed::Column::Desired,
            "state" => changefeed::Column::State,
            "error_message" => changefeed::Column::ErrorMessage,
            "error_since" => changefeed::Column::ErrorSince,
            other => unreachable!("unknown changefeed column {other}"),
        };
        update = match value {
            Value::Null if *column == "error_since" => {
                update.col_expr(col, Expr::value(Option::<chrono::DateTime<Utc>>::None))
            }
            Value::Null => update.col_expr(col, Expr::value(Option::<String>::None)),
            Value::String(s) => update.col_expr(col, Expr::value(s.clone())),
            other => update.col_expr(col, Expr::value(other.to_string())),
        };
    }
    update.exec(&store.db).await.map_err(JobError::store)?;
    Ok(())
}
