//! `GET /topics/{topic_name}/partitions[/{partition_id}]`,
//! `GET .../partitions/{partition_id}/offsets` and
//! `POST .../partitions/{partition_id}` (produce to one partition).

use ferry_entity::Role;
use poem::Request;
use poem_openapi::{Object, OpenApi, param::Path};

use super::{
    V2Result,
    body::{KafkaBody, V2Json},
    open,
    produce::{self, RawRecord, V2PartitionProduceRequest, V2ProduceResponse},
    topics::{V2Partition, partition_view},
    v2,
};
use crate::{
    api_tags::ApiTags,
    auth::BearerAuth,
    confluent::{
        partitions::{find_partition, partition_offsets},
        topics::find_topic,
    },
    state::AppState,
};

/// A partition's first offset and the offset its next record will get.
#[derive(Debug, Object)]
pub struct V2PartitionOffsets {
    pub beginning_offset: i64,
    pub end_offset: i64,
}

pub struct ConfluentV2PartitionsApi;

#[OpenApi(tag = "ApiTags::ConfluentV2")]
impl ConfluentV2PartitionsApi {
    /// A topic's partitions.
    #[oai(path = "/topics/:topic_name/partitions", method = "get")]
    async fn list(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        topic_name: Path<String>,
    ) -> V2Result<V2Json<Vec<V2Partition>>> {
        auth.0.require(Role::Viewer)?;
        let ctx = open(&state, req).await?;
        let (_, topic) = v2(find_topic(&ctx, &topic_name.0).await)?;
        Ok(V2Json(
            topic.partitions.iter().map(partition_view).collect(),
        ))
    }

    /// One partition: its leader and replicas.
    #[oai(path = "/topics/:topic_name/partitions/:partition_id", method = "get")]
    async fn get(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        topic_name: Path<String>,
        partition_id: Path<String>,
    ) -> V2Result<V2Json<V2Partition>> {
        auth.0.require(Role::Viewer)?;
        let ctx = open(&state, req).await?;
        let (_, p) = v2(find_partition(&ctx, &topic_name.0, &partition_id.0).await)?;
        Ok(V2Json(partition_view(&p)))
    }

    /// A partition's beginning and end offsets.
    #[oai(
        path = "/topics/:topic_name/partitions/:partition_id/offsets",
        method = "get"
    )]
    async fn offsets(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        topic_name: Path<String>,
        partition_id: Path<String>,
    ) -> V2Result<V2Json<V2PartitionOffsets>> {
        auth.0.require(Role::Viewer)?;
        let ctx = open(&state, req).await?;
        let (t, p) = v2(find_partition(&ctx, &topic_name.0, &partition_id.0).await)?;
        let (beginning_offset, end_offset) = v2(partition_offsets(&ctx, &t.name, p.id).await)?;
        Ok(V2Json(V2PartitionOffsets {
            beginning_offset,
            end_offset,
        }))
    }

    /// Produce records to one partition.
    #[oai(path = "/topics/:topic_name/partitions/:partition_id", method = "post")]
    async fn produce(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        topic_name: Path<String>,
        partition_id: Path<String>,
        body: KafkaBody<V2PartitionProduceRequest>,
    ) -> V2Result<V2Json<V2ProduceResponse>> {
        auth.0.require(Role::Client)?;
        let ctx = open(&state, req).await?;
        let topic = &topic_name.0;
        let partition = crate::confluent::parse_index(&partition_id.0).ok_or_else(|| {
            crate::confluent::ConfluentError::partition_not_found(topic, &partition_id.0)
        })?;
        let request = body.value;
        let records = request
            .records
            .into_iter()
            .map(|r| RawRecord {
                key: r.key,
                value: r.value,
                partition: Some(partition),
            })
            .collect();
        let answer = produce::produce(&ctx, topic, body.format, &request.schemas, records).await?;
        Ok(V2Json(answer))
    }
}
