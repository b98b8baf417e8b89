//! Consumer groups: `/v3/clusters/{cluster_id}/consumer-groups[/{group}]`,
//! its `consumers[/{consumer_id}]` and each consumer's `assignments`. Lag is
//! in `lags`.
//!
//! Groups come from ListGroups + DescribeGroups (classic consumer groups);
//! assignments are decoded from Kafka's ConsumerProtocol bytes. `instance_id`
//! is always null: the
//! DescribeGroups version librdkafka sends does not carry it.

use ferry_entity::Role;
use ferry_service::kafka::admin::{self, GroupInfo, GroupMember};
use poem::Request;
use poem_openapi::{Object, OpenApi, param::Path, payload::Json};

use super::{
    ConfluentError, Ctx, GROUP_NOT_FOUND, READ_TIMEOUT, Related, ResourceMetadata, V3Result,
    list_meta, list_type, parse_index, related, seg,
};
use crate::{api_tags::ApiTags, auth::BearerAuth, state::AppState};

#[derive(Debug, Object)]
pub struct KafkaConsumerGroup {
    /// `KafkaConsumerGroup`.
    pub kind: String,
    pub metadata: ResourceMetadata,
    pub cluster_id: String,
    pub consumer_group_id: String,
    /// A group that only commits offsets, without members' protocol.
    pub is_simple: bool,
    pub partition_assignor: String,
    /// `STABLE`, `EMPTY`, `PREPARING_REBALANCE`, `COMPLETING_REBALANCE`,
    /// `DEAD` or `UNKNOWN`.
    pub state: String,
    #[oai(nullable)]
    pub coordinator: Option<Related>,
    pub consumers: Related,
    pub lag_summary: Related,
}

list_type!(KafkaConsumerGroupList, KafkaConsumerGroup);

#[derive(Debug, Object)]
pub struct KafkaConsumer {
    /// `KafkaConsumer`.
    pub kind: String,
    pub metadata: ResourceMetadata,
    pub cluster_id: String,
    pub consumer_group_id: String,
    pub consumer_id: String,
    #[oai(nullable)]
    pub instance_id: Option<String>,
    pub client_id: String,
    pub assignments: Related,
}

list_type!(KafkaConsumerList, KafkaConsumer);

#[derive(Debug, Object)]
pub struct KafkaConsumerAssignment {
    /// `KafkaConsumerAssignment`.
    pub kind: String,
    pub metadata: ResourceMetadata,
    pub cluster_id: String,
    pub consumer_group_id: String,
    pub consumer_id: String,
    pub topic_name: String,
    pub partition_id: i32,
    pub partition: Related,
}

list_type!(KafkaConsumerAssignmentList, KafkaConsumerAssignment);

/// Kafka's group state (`PreparingRebalance`) as Confluent spells it
/// (`PREPARING_REBALANCE`).
fn state_name(state: &str) -> String {
    const KNOWN: [&str; 5] = [
        "Stable",
        "Empty",
        "PreparingRebalance",
        "CompletingRebalance",
        "Dead",
    ];
    if !KNOWN.contains(&state) {
        return "UNKNOWN".into();
    }
    let mut out = String::new();
    for (i, c) in state.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

pub(super) fn group_path(group: &str) -> String {
    format!("/consumer-groups/{}", seg(group))
}

fn group_view(ctx: &Ctx, g: &GroupInfo) -> KafkaConsumerGroup {
    let path = group_path(&g.group_id);
    KafkaConsumerGroup {
        kind: "KafkaConsumerGroup".into(),
        metadata: ctx.meta(&path, &format!("/consumer-group={}", g.group_id)),
        cluster_id: ctx.cluster_id(),
        consumer_group_id: g.group_id.clone(),
        is_simple: g.protocol_type.is_empty(),
        partition_assignor: g.protocol.clone(),
        state: state_name(&g.state),
        coordinator: g
            .coordinator
            .map(|b| related(ctx.url(&format!("/brokers/{b}")))),
        consumers: related(ctx.url(&format!("{path}/consumers"))),
        lag_summary: related(ctx.url(&format!("{path}/lag-summary"))),
    }
}

pub(super) fn consumer_path(group: &str, member: &str) -> String {
    format!("{}/consumers/{}", group_path(group), seg(member))
}

fn consumer_view(ctx: &Ctx, g: &GroupInfo, m: &GroupMember) -> KafkaConsumer {
    let path = consumer_path(&g.group_id, &m.member_id);
    KafkaConsumer {
        kind: "KafkaConsumer".into(),
        metadata: ctx.meta(
            &path,
            &format!("/consumer-group={}/consumer={}", g.group_id, m.member_id),
        ),
        cluster_id: ctx.cluster_id(),
        consumer_group_id: g.group_id.clone(),
        consumer_id: m.member_id.clone(),
        instance_id: None,
        client_id: m.client_id.clone(),
        assignments: related(ctx.url(&format!("{path}/assignments"))),
    }
}

fn assignment_view(
    ctx: &Ctx,
    g: &GroupInfo,
    m: &GroupMember,
    (topic, partition): &(String, i32),
) -> KafkaConsumerAssignment {
    let path = format!(
        "{}/assignments/{}/partitions/{partition}",
        consumer_path(&g.group_id, &m.member_id),
        seg(topic)
    );
    KafkaConsumerAssignment {
        kind: "KafkaConsumerAssignment".into(),
        metadata: ctx.meta(
            &path,
            &format!(
                "/consumer-group={}/consumer={}/assignment={topic}/partition={partition}",
                g.group_id, m.member_id
            ),
        ),
        cluster_id: ctx.cluster_id(),
        consumer_group_id: g.group_id.clone(),
        consumer_id: m.member_id.clone(),
        topic_name: topic.clone(),
        partition_id: *partition,
        partition: related(ctx.url(&format!("/topics/{}/partitions/{partition}", seg(topic)))),
    }
}

fn group_not_found(id: &str) -> ConfluentError {
    ConfluentError::not_found(GROUP_NOT_FOUND, format!("Consumer group '{id}' not found."))
}

/// The group, or 40403 (also for a group Kafka reports as `Dead`: it has no
/// members and no offsets left).
pub(super) async fn find_group(ctx: &Ctx, id: &str) -> V3Result<GroupInfo> {
    // A group outside the caller's prefix does not exist for it.
    if !ctx.sees(id) {
        return Err(group_not_found(id));
    }
    admin::list_groups(&ctx.cluster, Some(id.to_owned()), READ_TIMEOUT)
        .await
        .map_err(|e| ConfluentError::kafka("describing the consumer group", e))?
        .into_iter()
        .find(|g| g.group_id == id && g.is_consumer_group() && g.state != "Dead")
        .ok_or_else(|| group_not_found(id))
}

fn find_member<'a>(g: &'a GroupInfo, id: &str) -> V3Result<&'a GroupMember> {
    g.members.iter().find(|m| m.member_id == id).ok_or_else(|| {
        ConfluentError::not_found(
            GROUP_NOT_FOUND,
            format!(
                "Consumer '{id}' not found in consumer group '{}'.",
                g.group_id
            ),
        )
    })
}

pub struct ConfluentConsumerGroupsApi;

#[OpenApi(prefix_path = "/v3/clusters", tag = "ApiTags::Confluent")]
impl ConfluentConsumerGroupsApi {
    /// List the cluster's consumer groups.
    #[oai(path = "/:cluster_id/consumer-groups", method = "get")]
    async fn list(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        cluster_id: Path<String>,
    ) -> V3Result<Json<KafkaConsumerGroupList>> {
        auth.0.require(Role::Viewer)?;
        let ctx = Ctx::open(&state, req, &cluster_id.0).await?;
        let groups = admin::list_groups(&ctx.cluster, None, READ_TIMEOUT)
            .await
            .map_err(|e| ConfluentError::kafka("listing consumer groups", e))?;
        Ok(Json(KafkaConsumerGroupList {
            kind: "KafkaConsumerGroupList".into(),
            metadata: list_meta(ctx.url("/consumer-groups")),
            data: groups
                .iter()
                .filter(|g| g.is_consumer_group() && ctx.sees(&g.group_id))
                .map(|g| group_view(&ctx, g))
                .collect(),
        }))
    }

    /// One consumer group.
    #[oai(
        path = "/:cluster_id/consumer-groups/:consumer_group_id",
        method = "get"
    )]
    async fn get(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        cluster_id: Path<String>,
        consumer_group_id: Path<String>,
    ) -> V3Result<Json<KafkaConsumerGroup>> {
        auth.0.require(Role::Viewer)?;
        let ctx = Ctx::open(&state, req, &cluster_id.0).await?;
        let g = find_group(&ctx, &consumer_group_id.0).await?;
        Ok(Json(group_view(&ctx, &g)))
    }

    /// The group's consumers (members).
    #[oai(
        path = "/:cluster_id/consumer-groups/:consumer_group_id/consumers",
        method = "get"
    )]
    async fn consumers(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        cluster_id: Path<String>,
        consumer_group_id: Path<String>,
    ) -> V3Result<Json<KafkaConsumerList>> {
        auth.0.require(Role::Viewer)?;
        let ctx = Ctx::open(&state, req, &cluster_id.0).await?;
        let g = find_group(&ctx, &consumer_group_id.0).await?;
        Ok(Json(KafkaConsumerList {
            kind: "KafkaConsumerList".into(),
            metadata: list_meta(ctx.url(&format!("{}/consumers", group_path(&g.group_id)))),
            data: g
                .members
                .iter()
                .map(|m| consumer_view(&ctx, &g, m))
                .collect(),
        }))
    }

    /// One consumer of the group.
    #[oai(
        path = "/:cluster_id/consumer-groups/:consumer_group_id/consumers/:consumer_id",
        method = "get"
    )]
    async fn consumer(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        cluster_id: Path<String>,
        consumer_group_id: Path<String>,
        consumer_id: Path<String>,
    ) -> V3Result<Json<KafkaConsumer>> {
        auth.0.require(Role::Viewer)?;
        let ctx = Ctx::open(&state, req, &cluster_id.0).await?;
        let g = find_group(&ctx, &consumer_group_id.0).await?;
        let m = find_member(&g, &consumer_id.0)?;
        Ok(Json(consumer_view(&ctx, &g, m)))
    }

    /// The partitions assigned to one consumer.
    #[oai(
        path = "/:cluster_id/consumer-groups/:consumer_group_id/consumers/:consumer_id/assignments",
        method = "get"
    )]
    async fn assignments(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        cluster_id: Path<String>,
        consumer_group_id: Path<String>,
        consumer_id: Path<String>,
    ) -> V3Result<Json<KafkaConsumerAssignmentList>> {
        auth.0.require(Role::Viewer)?;
        let ctx = Ctx::open(&state, req, &cluster_id.0).await?;
        let g = find_group(&ctx, &consumer_group_id.0).await?;
        let m = find_member(&g, &consumer_id.0)?;
        let path = format!("{}/assignments", consumer_path(&g.group_id, &m.member_id));
        Ok(Json(KafkaConsumerAssignmentList {
            kind: "KafkaConsumerAssignmentList".into(),
            metadata: list_meta(ctx.url(&path)),
            data: m
                .partitions()
                .iter()
                .map(|tp| assignment_view(&ctx, &g, m, tp))
                .collect(),
        }))
    }

    /// One partition assigned to a consumer.
    #[oai(
        path = "/:cluster_id/consumer-groups/:consumer_group_id/consumers/:consumer_id/assignments/:topic_name/partitions/:partition_id",
        method = "get"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn assignment(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        cluster_id: Path<String>,
        consumer_group_id: Path<String>,
        consumer_id: Path<String>,
        topic_name: Path<String>,
        partition_id: Path<String>,
    ) -> V3Result<Json<KafkaConsumerAssignment>> {
        auth.0.require(Role::Viewer)?;
        let ctx = Ctx::open(&state, req, &cluster_id.0).await?;
        let g = find_group(&ctx, &consumer_group_id.0).await?;
        let m = find_member(&g, &consumer_id.0)?;
        let wanted = parse_index(&partition_id.0).map(|p| (topic_name.0.clone(), p));
        let tp = m
            .partitions()
            .into_iter()
            .find(|tp| Some(tp) == wanted.as_ref())
            .ok_or_else(|| {
                ConfluentError::not_found(
                    404,
                    format!(
                        "Consumer '{}' has no assignment for partition {} of topic '{}'.",
                        m.member_id, partition_id.0, topic_name.0
                    ),
                )
            })?;
        Ok(Json(assignment_view(&ctx, &g, m, &tp)))
    }
}

#[cfg(test)]
mod tests {
    use super::state_name;

    #[test]
    fn states_are_spelled_as_confluent_does() {
        assert_eq!(state_name("Stable"), "STABLE");
        assert_eq!(state_name("PreparingRebalance"), "PREPARING_REBALANCE");
        assert_eq!(state_name("CompletingRebalance"), "COMPLETING_REBALANCE");
        assert_eq!(state_name("Empty"), "EMPTY");
        assert_eq!(state_name("weird"), "UNKNOWN");
    }
}
