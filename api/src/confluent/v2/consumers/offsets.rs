//! A consumer instance's offsets: `POST .../offsets` commits (each offset
//! the last record processed, as the REST Proxy takes it; no body: every
//! record returned so far) and `GET .../offsets` reads the group's
//! committed offsets of the partitions its body names (a GET with a body,
//! as the seed shows; none named: the instance's assignment).

use ferry_entity::{Role, consumer_instance::TopicPartition};
use poem::Request;
use poem_openapi::{Object, OpenApi, param::Path};
use serde_json::Value;

use super::{
    NoContent, V2Offsets, V2Partitions, V2TopicPartition, body, may_read, partitions, serve,
};
use crate::{
    api_tags::ApiTags,
    auth::BearerAuth,
    confluent::v2::{V2Error, V2Result, body::KafkaBody, body::V2Json},
    state::AppState,
};

#[derive(Debug, Object)]
pub struct V2CommittedOffset {
    pub topic: String,
    pub partition: i32,
    /// The next offset the group reads.
    pub offset: i64,
    pub metadata: String,
}

#[derive(Debug, Object)]
pub struct V2CommittedOffsets {
    pub offsets: Vec<V2CommittedOffset>,
}

pub struct ConfluentV2ConsumerOffsetsApi;

#[OpenApi(tag = "ApiTags::ConfluentV2")]
impl ConfluentV2ConsumerOffsetsApi {
    /// Commit offsets (each the last record processed); with no body, every
    /// record returned so far.
    #[oai(
        path = "/consumers/:group_name/instances/:instance/offsets",
        method = "post"
    )]
    async fn commit(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        group_name: Path<String>,
        instance: Path<String>,
        body: KafkaBody<Option<V2Offsets>>,
    ) -> V2Result<NoContent> {
        auth.0.require(Role::Client)?;
        let (ctx, instance) = serve(&state, req, &group_name.0, &instance.0).await?;
        let offsets = match body.value {
            None => None,
            Some(list) => {
                may_read(&ctx, list.offsets.iter().map(|o| o.topic.as_str()))?;
                Some(
                    list.offsets
                        .into_iter()
                        .map(|o| {
                            (
                                TopicPartition {
                                    topic: o.topic,
                                    partition: o.partition,
                                },
                                o.offset,
                            )
                        })
                        .collect(),
                )
            }
        };
        instance.commit(offsets).await?;
        Ok(NoContent::Done)
    }

    /// The group's last committed offsets of the given partitions, whoever
    /// committed them (the body is read as the REST Proxy does, though the
    /// method is GET).
    #[oai(
        path = "/consumers/:group_name/instances/:instance/offsets",
        method = "get"
    )]
    async fn committed(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        group_name: Path<String>,
        instance: Path<String>,
        raw: Vec<u8>,
    ) -> V2Result<V2Json<V2CommittedOffsets>> {
        auth.0.require(Role::Client)?;
        let asked: Vec<V2TopicPartition> = match serde_json::from_slice::<Value>(&raw) {
            _ if raw.iter().all(u8::is_ascii_whitespace) => Vec::new(),
            Ok(value) => {
                <V2Partitions as poem_openapi::types::ParseFromJSON>::parse_from_json(Some(value))
                    .map_err(|e| V2Error::unprocessable(422, e.into_message()))?
                    .partitions
            }
            Err(e) => {
                return Err(V2Error::BadRequest(body(
                    400,
                    format!("the body is not JSON: {e}"),
                )));
            }
        };
        let (ctx, instance) = serve(&state, req, &group_name.0, &instance.0).await?;
        may_read(&ctx, asked.iter().map(|p| p.topic.as_str()))?;
        let list = if asked.is_empty() {
            instance.assignment().await?
        } else {
            partitions(&asked)
        };
        let committed = instance.committed(list).await?;
        Ok(V2Json(V2CommittedOffsets {
            offsets: committed
                .into_iter()
                .map(|c| V2CommittedOffset {
                    topic: c.partition.topic,
                    partition: c.partition.partition,
                    offset: c.offset,
                    metadata: c.metadata,
                })
                .collect(),
        }))
    }
}
