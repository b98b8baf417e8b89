//! `changefeed.resume`: sets the changefeed running again, clearing its
//! error. Its result holds the state it had before.

use ferry_entity::{ChangefeedState, Desired};
use serde_json::{Value, json};

use super::{changefeed_id, load, start};
use crate::jobs::{JobContext, JobError};

pub async fn run(ctx: JobContext<'_>) -> Result<Value, JobError> {
    let id = changefeed_id(&ctx)?;
    let model = load(ctx.store, &id).await?;
    let previous = model.state;
    if !(previous == ChangefeedState::Normal && model.desired == Desired::Running) {
        start(ctx.store, &id).await?;
    }
    Ok(json!({ "status": previous }))
}
