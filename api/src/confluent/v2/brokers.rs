//! `GET /brokers`: the ids of the cluster's brokers.

use ferry_entity::Role;
use poem::Request;
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json};

use super::{V2Result, open, v2};
use crate::{api_tags::ApiTags, auth::BearerAuth, confluent::topics::describe, state::AppState};

#[derive(Debug, Object)]
pub struct V2Brokers {
    /// Broker ids, ascending.
    pub brokers: Vec<i32>,
}

#[derive(Debug, ApiResponse)]
pub enum BrokersAnswer {
    #[oai(status = 200, content_type = "application/vnd.kafka.v2+json")]
    Ok(Json<V2Brokers>),
}

pub struct ConfluentV2BrokersApi;

#[OpenApi(tag = "ApiTags::ConfluentV2")]
impl ConfluentV2BrokersApi {
    /// List the brokers' ids.
    #[oai(path = "/brokers", method = "get")]
    async fn list(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
    ) -> V2Result<BrokersAnswer> {
        auth.0.require(Role::Viewer)?;
        let ctx = open(&state, req).await?;
        let described = v2(describe(&ctx).await)?;
        Ok(BrokersAnswer::Ok(Json(V2Brokers {
            brokers: described.brokers.iter().map(|b| b.id).collect(),
        })))
    }
}
