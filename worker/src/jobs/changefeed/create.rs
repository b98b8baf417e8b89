//! `changefeed.create`: prechecks the new changefeed, fixes its start
//! position and starts it (or leaves it stopped when created paused). A
//! failed precheck removes the changefeed: it never existed as far as the
//! caller is concerned.

use chrono::Utc;
use ferry_entity::{
    ChangefeedState, Desired,
    changefeed::{self, Entity as Changefeeds},
};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait};
use serde_json::{Value, json};

use super::{changefeed_id, load, prepare};
use crate::{
    jobs::{JobContext, JobError},
    replication::supervisor,
};

pub async fn run(ctx: JobContext<'_>) -> Result<Value, JobError> {
    let id = changefeed_id(&ctx)?;
    let store = ctx.store;
    let model = load(store, &id).await?;
    if model.state != ChangefeedState::Initial {
        // An earlier attempt finished the work before its worker died.
        return Ok(json!({ "id": id, "status": model.state }));
    }
    let checkpoint = match prepare(&ctx, &model, true).await {
        Ok(Some(cp)) => cp,
        Ok(None) => return Err(JobError::Permanent("no start position was found".into())),
        Err(JobError::Permanent(reason)) => {
            Changefeeds::delete_by_id(id.clone())
                .exec(&store.db)
                .await?;
            return Err(JobError::Permanent(reason));
        }
        Err(other) => return Err(other),
    };
    let state = match model.desired {
        Desired::Running => ChangefeedState::Normal,
        Desired::Stopped => ChangefeedState::Stopped,
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
    active.state = Set(state);
    active.updated_at = Set(Utc::now());
    active.update(&store.db).await?;
    supervisor::wake();
    Ok(json!({ "id": id, "status": state }))
}
