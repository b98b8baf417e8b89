//! `changefeed.update`: applies a validated change. A Normal changefeed is
//! paused, changed and resumed; a Stopped, Error or Failed one is changed in
//! place. Its result holds the state it had before.

use chrono::Utc;
use ferry_entity::{
    ChangefeedState, Desired,
    changefeed::{self, Entity as Changefeeds, Model},
    payload::{ChangefeedOptions, ChangefeedPatch},
};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr,
};
use serde_json::{Value, json};

use super::{changefeed_id, load, prepare, start, stop_and_wait, unreadable};
use crate::jobs::{JobContext, JobError};

pub async fn run(ctx: JobContext<'_>) -> Result<Value, JobError> {
    let id = changefeed_id(&ctx)?;
    let patch: ChangefeedPatch = ctx.task.payload().map_err(JobError::payload)?;
    let store = ctx.store;
    let model = load(store, &id).await?;
    let previous = model.state;
    // Resume afterwards when the changefeed runs now, or when an earlier
    // attempt of this task paused it (and was cut short before resuming).
    let was_running = (model.desired == Desired::Running && previous == ChangefeedState::Normal)
        || model.resume_after.as_deref() == Some(ctx.task.id.as_str());
    if was_running {
        // The intent is stored before the pause, so that it outlives this
        // attempt.
        Changefeeds::update_many()
            .col_expr(
                changefeed::Column::ResumeAfter,
                Expr::value(Some(ctx.task.id.clone())),
            )
            .filter(changefeed::Column::Id.eq(&id))
            .exec(&store.db)
            .await?;
        stop_and_wait(store, &id).await?;
    }
    let model = load(store, &id).await?;
    let mut candidate = model.clone();
    apply_patch(&mut candidate, &patch)?;
    let checked = if patch.downstream.is_some() || patch.rules.is_some() {
        prepare(&ctx, &candidate, false).await.map(|_| ())
    } else {
        Ok(())
    };
    if let Err(err) = checked {
        if was_running {
            start(store, &id).await?;
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
    active.update(&store.db).await?;
    if was_running {
        start(store, &id).await?;
    }
    Ok(json!({ "status": previous }))
}

fn apply_patch(model: &mut Model, patch: &ChangefeedPatch) -> Result<(), JobError> {
    if let Some(name) = &patch.name {
        model.name = name.clone();
    }
    if let Some(rules) = &patch.rules {
        model.rules = json!(rules);
    }
    if let Some(t) = patch.downstream_type {
        model.downstream_type = t;
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
        let force = model.options().map_err(unreadable)?.force;
        model.options = json!(ChangefeedOptions {
            force,
            ..options.clone()
        });
    }
    Ok(())
}
