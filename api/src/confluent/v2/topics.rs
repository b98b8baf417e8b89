//! `GET /topics`, `GET /topics/{topic_name}` and `POST /topics/{topic_name}`
//! (produce, `produce.rs`).

use std::collections::BTreeMap;

use ferry_entity::Role;
use ferry_service::kafka::admin::{self, ConfigResource, PartitionInfo};
use poem::Request;
use poem_openapi::{Object, OpenApi, param::Path};

use super::{
    V2Result,
    body::{KafkaBody, V2Json},
    open,
    produce::{self, RawRecord, V2ProduceResponse, V2TopicProduceRequest},
    v2,
};
use crate::{
    api_tags::ApiTags,
    auth::BearerAuth,
    confluent::{
        ConfluentError, READ_TIMEOUT,
        partitions::replica_ids,
        topics::{describe, find_topic},
    },
    state::AppState,
};

/// One replica of a partition.
#[derive(Debug, Object)]
pub struct V2Replica {
    pub broker: i32,
    pub leader: bool,
    pub in_sync: bool,
}

/// A partition: its leader and replicas.
#[derive(Debug, Object)]
pub struct V2Partition {
    pub partition: i32,
    /// The leader's broker id; -1 while the partition has no leader.
    pub leader: i32,
    pub replicas: Vec<V2Replica>,
}

pub fn partition_view(p: &PartitionInfo) -> V2Partition {
    V2Partition {
        partition: p.id,
        leader: p.leader.unwrap_or(-1),
        replicas: replica_ids(p)
            .into_iter()
            .map(|broker| V2Replica {
                broker,
                leader: p.leader == Some(broker),
                // A broker that reports no ISR (tansu 0.6) has its leader in sync.
                in_sync: p.isr.contains(&broker) || (p.isr.is_empty() && p.leader == Some(broker)),
            })
            .collect(),
    }
}

/// A topic: its config overrides and partitions.
#[derive(Debug, Object)]
pub struct V2Topic {
    pub name: String,
    /// The topic's configs that are set on it rather than defaults.
    pub configs: BTreeMap<String, String>,
    pub partitions: Vec<V2Partition>,
}

pub struct ConfluentV2TopicsApi;

#[OpenApi(tag = "ApiTags::ConfluentV2")]
impl ConfluentV2TopicsApi {
    /// List the names of the topics.
    #[oai(path = "/topics", method = "get")]
    async fn list(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
    ) -> V2Result<V2Json<Vec<String>>> {
        auth.0.require(Role::Viewer)?;
        let ctx = open(&state, req).await?;
        let described = v2(describe(&ctx).await)?;
        Ok(V2Json(
            described
                .topics
                .iter()
                .filter(|t| t.error.is_none() && ctx.sees(&t.name))
                .map(|t| t.name.clone())
                .collect(),
        ))
    }

    /// A topic's config overrides and partitions.
    #[oai(path = "/topics/:topic_name", method = "get")]
    async fn get(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        topic_name: Path<String>,
    ) -> V2Result<V2Json<V2Topic>> {
        auth.0.require(Role::Viewer)?;
        let ctx = open(&state, req).await?;
        let (_, topic) = v2(find_topic(&ctx, &topic_name.0).await)?;
        let entries = admin::describe_configs(
            &ctx.cluster,
            ConfigResource::Topic(topic.name.clone()),
            READ_TIMEOUT,
        )
        .await
        .map_err(|e| {
            ConfluentError::kafka(&format!("reading the configs of topic '{}'", topic.name), e)
        })?;
        let configs = entries
            .into_iter()
            .filter(|e| !e.is_default && !e.is_sensitive)
            .filter_map(|e| Some((e.name, e.value?)))
            .collect();
        Ok(V2Json(V2Topic {
            name: topic.name.clone(),
            configs,
            partitions: topic.partitions.iter().map(partition_view).collect(),
        }))
    }

    /// Produce records to a topic; each goes to its `partition`, else to
    /// its key's partition (murmur2), else to any.
    #[oai(path = "/topics/:topic_name", method = "post")]
    async fn produce(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        topic_name: Path<String>,
        body: KafkaBody<V2TopicProduceRequest>,
    ) -> V2Result<V2Json<V2ProduceResponse>> {
        auth.0.require(Role::Client)?;
        let ctx = open(&state, req).await?;
        let request = body.value;
        let records = request
            .records
            .into_iter()
            .map(|r| RawRecord {
                key: r.key,
                value: r.value,
                partition: r.partition,
            })
            .collect();
        let answer =
            produce::produce(&ctx, &topic_name.0, body.format, &request.schemas, records).await?;
        Ok(V2Json(answer))
    }
}
