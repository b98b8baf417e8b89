//! `changefeed.pause`: stops the changefeed and waits until no worker runs
//! it. Its result holds the state it had before.

use ferry_entity::{ChangefeedState, Desired};
use serde_json::{Value, json};

use super::{changefeed_id, load, stop_and_wait};
use crate::jobs::{JobContext, JobError};

pub async fn run(ctx: JobContext<'_>) -> Result<Value, JobError> {
    let id = changefeed_id(&ctx)?;
    let model = load(ctx.store, &id).await?;
    let previous = model.state;
    if !(previous == ChangefeedState::Stopped && model.desired == Desired::Stopped) {
        stop_and_wait(ctx.store, &id).await?;
    }
    Ok(json!({ "status": previous }))
}
