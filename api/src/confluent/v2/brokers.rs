//! `GET /brokers`: the ids of the cluster's brokers.

use ferry_entity::Role;
use poem::Request;
use poem_openapi::{Object, OpenApi};

use super::{V2Result, body::V2Json, open, v2};
use crate::{api_tags::ApiTags, auth::BearerAuth, confluent::topics::describe, state::AppState};

#[derive(Debug, Object)]
pub struct V2Brokers {
    /// Broker ids, ascending.
    pub brokers: Vec<i32>,
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
    ) -> V2Result<V2Json<V2Brokers>> {
        auth.0.require(Role::Viewer)?;
        let ctx = open(&state, req).await?;
        let described = v2(describe(&ctx).await)?;
        Ok(V2Json(V2Brokers {
            brokers: described.brokers.iter().map(|b| b.id).collect(),
        }))
    }
}
