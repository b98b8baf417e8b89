//! `changefeed.delete`: stops the changefeed and removes it.

use ferry_entity::changefeed::Entity as Changefeeds;
use sea_orm::EntityTrait;
use serde_json::{Value, json};

use super::{changefeed_id, load, stop_and_wait};
use crate::jobs::{JobContext, JobError};

pub async fn run(ctx: JobContext<'_>) -> Result<Value, JobError> {
    let id = changefeed_id(&ctx)?;
    let model = load(ctx.store, &id).await?;
    stop_and_wait(ctx.store, &id).await?;
    Changefeeds::delete_by_id(id.clone())
        .exec(&ctx.store.db)
        .await?;
    Ok(json!({ "id": id, "status": model.state }))
}
