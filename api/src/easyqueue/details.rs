//! `/v1.0/appkeys/{appKey}/topics/{topicName}/partitions` and
//! `.../consumer-groups`: a topic's partitions with their offsets, and the
//! consumer groups reading it with each member's partitions and lag.
//!
//! A group's `totalLag` counts every partition of the topic it committed
//! an offset on; `memberList` shows the partitions assigned to each member
//! now, so an Empty group (no members) shows its lag with no members.

use std::collections::HashMap;

use ferry_entity::Role;
use ferry_service::kafka::admin::{self, usage};
use poem_openapi::{Object, OpenApi, param::Path, payload::Json};

use super::{AppKey, EqAuth, EqError, EqResult, answer, envelope, topics::find};
use crate::{api_tags::ApiTags, confluent::READ_TIMEOUT, state::AppState};

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", rename = "EasyQueuePartitionEntry")]
pub struct PartitionEntry {
    pub partition: i32,
    pub replica_count: i32,
    pub start_offset: i64,
    pub end_offset: i64,
    pub message_count: i64,
}

envelope!(PartitionListBody as "EasyQueuePartitionList" {
    partition_list: Vec<PartitionEntry>,
});

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", rename = "EasyQueuePartitionLag")]
pub struct PartitionLag {
    pub partition: i32,
    pub current_offset: i64,
    pub end_offset: i64,
    pub lag: i64,
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", rename = "EasyQueueMember")]
pub struct Member {
    pub member_id: String,
    pub client_id: String,
    pub partition_list: Vec<PartitionLag>,
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", rename = "EasyQueueConsumerGroup")]
pub struct ConsumerGroup {
    pub group_id: String,
    /// Kafka's state: `Stable`, `Empty`, `PreparingRebalance`,
    /// `CompletingRebalance`, `Dead` or `Unknown`.
    pub group_state: String,
    pub total_lag: i64,
    pub member_list: Vec<Member>,
}

envelope!(ConsumerGroupListBody as "EasyQueueConsumerGroupList" {
    consumer_group_list: Vec<ConsumerGroup>,
});

fn kafka_error(doing: &str) -> impl Fn(admin::AdminError) -> EqError + '_ {
    move |e| EqError::unavailable(format!("{doing}: {e}"))
}

fn int(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

pub struct EasyQueueDetailsApi;

#[OpenApi(prefix_path = "/v1.0/appkeys", tag = "ApiTags::EasyQueue")]
impl EasyQueueDetailsApi {
    /// View a partition list.
    #[oai(path = "/:appKey/topics/:topicName/partitions", method = "get")]
    async fn partitions(
        &self,
        state: poem::web::Data<&AppState>,
        auth: EqAuth,
        #[oai(name = "appKey")] app_key: Path<String>,
        #[oai(name = "topicName")] topic_name: Path<String>,
    ) -> Json<PartitionListBody> {
        answer(
            async {
                auth.identity().require(Role::Viewer)?;
                let app = AppKey::open(&state, auth.identity(), &app_key.0).await?;
                let topic = find(&app, &topic_name.0).await?;
                let ranges = usage::partition_ranges(&app.cluster, &[&topic], READ_TIMEOUT)
                    .await
                    .map_err(kafka_error("reading the partitions' offsets"))?;
                let list = topic
                    .partitions
                    .iter()
                    .map(|p| {
                        let range = ranges
                            .get(&(topic.name.clone(), p.id))
                            .copied()
                            .unwrap_or_default();
                        PartitionEntry {
                            partition: p.id,
                            replica_count: int(p.replicas.len()),
                            start_offset: range.start.unwrap_or(0),
                            end_offset: range.end.unwrap_or(0),
                            message_count: range.message_count(),
                        }
                    })
                    .collect();
                Ok(PartitionListBody {
                    partition_list: Some(list),
                    ..Default::default()
                })
            }
            .await,
        )
    }

    /// Retrieve a topic's consumer group list.
    #[oai(path = "/:appKey/topics/:topicName/consumer-groups", method = "get")]
    async fn consumer_groups(
        &self,
        state: poem::web::Data<&AppState>,
        auth: EqAuth,
        #[oai(name = "appKey")] app_key: Path<String>,
        #[oai(name = "topicName")] topic_name: Path<String>,
    ) -> Json<ConsumerGroupListBody> {
        answer(consumer_groups(&state, &auth, &app_key.0, &topic_name.0).await)
    }
}

async fn consumer_groups(
    state: &AppState,
    auth: &EqAuth,
    app_key: &str,
    topic_name: &str,
) -> EqResult<ConsumerGroupListBody> {
    auth.identity().require(Role::Viewer)?;
    let app = AppKey::open(state, auth.identity(), app_key).await?;
    let topic = find(&app, topic_name).await?;
    let groups = admin::list_groups(&app.cluster, None, READ_TIMEOUT)
        .await
        .map_err(kafka_error("listing the consumer groups"))?;
    let mut list = Vec::new();
    for group in groups
        .iter()
        .filter(|g| g.is_consumer_group() && app.identity.reaches_name(app.cluster_id, &g.group_id))
    {
        let lags = admin::group_lags(&app.cluster, group, READ_TIMEOUT)
            .await
            .map_err(kafka_error("reading a group's offsets"))?;
        let lags: Vec<_> = lags.into_iter().filter(|l| l.topic == topic.name).collect();
        let assigned = group
            .members
            .iter()
            .any(|m| m.partitions().iter().any(|(t, _)| *t == topic.name));
        if lags.is_empty() && !assigned {
            continue;
        }
        let by_partition: HashMap<i32, &admin::PartitionLag> =
            lags.iter().map(|l| (l.partition, l)).collect();
        let members = group
            .members
            .iter()
            .filter_map(|m| {
                let partitions: Vec<PartitionLag> = m
                    .partitions()
                    .into_iter()
                    .filter(|(t, _)| *t == topic.name)
                    .map(|(_, p)| match by_partition.get(&p) {
                        Some(l) => PartitionLag {
                            partition: p,
                            current_offset: l.current_offset,
                            end_offset: l.end_offset,
                            lag: l.lag,
                        },
                        // Assigned but nothing committed yet: no offset to
                        // measure a lag from.
                        None => PartitionLag {
                            partition: p,
                            current_offset: -1,
                            end_offset: -1,
                            lag: 0,
                        },
                    })
                    .collect();
                (!partitions.is_empty()).then(|| Member {
                    member_id: m.member_id.clone(),
                    client_id: m.client_id.clone(),
                    partition_list: partitions,
                })
            })
            .collect();
        list.push(ConsumerGroup {
            group_id: group.group_id.clone(),
            group_state: if group.state.is_empty() {
                "Unknown".into()
            } else {
                group.state.clone()
            },
            total_lag: lags.iter().map(|l| l.lag).sum(),
            member_list: members,
        });
    }
    Ok(ConsumerGroupListBody {
        consumer_group_list: Some(list),
        ..Default::default()
    })
}
