//! `/v1.0/appkeys/{appKey}/topics[/{topicName}]`: list, create, get, edit
//! and delete a project's topics.

use std::collections::BTreeMap;

use ferry_entity::{
    Role,
    payload::{ConfigChange, ConfigOp, ConfigOpKind, ConfigResource},
};
use ferry_service::{
    kafka::admin::{self, TopicInfo},
    tasks::Waited,
    topics::{
        self, TopicSpec, admin as topic_admin, notes,
        overview::{self, Extras},
    },
};
use poem::Request;
use poem_openapi::{Object, OpenApi, param::Path, param::Query, payload::Json};
use serde_json::json;

use super::{
    AppKey, EqAuth, EqError, EqResult, answer, envelope, settle,
    views::{self, CONFIGS, MAX_MESSAGE_BYTES, RETENTION_BYTES, RETENTION_MS, Topic},
};
use crate::{
    api_tags::ApiTags, confluent::READ_TIMEOUT, edge::requester, middleware::audit::AuditNote,
    state::AppState,
};

/// The seed's ranges.
const MAX_NAME: usize = 50;
const PARTITIONS: std::ops::RangeInclusive<i32> = 1..=16;
const RETENTION_TIME: std::ops::RangeInclusive<i64> = 3_600_000..=1_209_600_000;
const RETENTION_SIZE: std::ops::RangeInclusive<i64> = 1_073_741_824..=26_843_545_600;
const MESSAGE_SIZE: std::ops::RangeInclusive<i32> = 1_024..=262_144;
const MAX_DESCRIPTION: usize = 255;
const MAX_LIMIT: u32 = 3_000;
const MAX_TOPIC_IDS: usize = 100;

envelope!(
    /// A page of topics.
    TopicListBody as "EasyQueueTopicList" {
        total_count: i64,
        topic_list: Vec<Topic>,
    }
);

envelope!(
    /// One topic; `taskId` when its change was still running after the wait.
    TopicBody as "EasyQueueTopicAnswer" {
        topic: Topic,
        task_id: String,
    }
);

envelope!(
    /// A deletion; `taskId` when it was still running after the wait.
    DeletedBody as "EasyQueueDeleted" { task_id: String }
);

/// The topic of a create request.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", rename = "EasyQueueNewTopic")]
pub struct NewTopic {
    /// 1-50 letters, digits and `-`; the broker's name is `{appKey}.{topicName}`.
    #[oai(nullable)]
    pub topic_name: Option<String>,
    /// Up to 255 characters, kept by ferry.
    #[oai(nullable)]
    pub description: Option<String>,
    /// 1-16.
    #[oai(nullable)]
    pub partition_count: Option<i32>,
    /// 3,600,000 (1 hour) to 1,209,600,000 (14 days).
    #[oai(nullable)]
    pub max_retention_time_ms: Option<i64>,
    /// 1,073,741,824 (1 GiB) to 26,843,545,600 (25 GiB).
    #[oai(nullable)]
    pub max_retention_bytes: Option<i64>,
    /// 1,024 to 262,144.
    #[oai(nullable)]
    pub max_message_bytes: Option<i32>,
}

#[derive(Debug, Object)]
#[oai(rename = "EasyQueueCreateRequest")]
pub struct CreateRequest {
    #[oai(nullable)]
    pub topic: Option<NewTopic>,
}

/// The topic of an edit request.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", rename = "EasyQueueTopicEdit")]
pub struct TopicEdit {
    #[oai(nullable)]
    pub description: Option<String>,
    /// 1-16, and only increased.
    #[oai(nullable)]
    pub partition_count: Option<i32>,
    #[oai(nullable)]
    pub max_retention_time_ms: Option<i64>,
    #[oai(nullable)]
    pub max_retention_bytes: Option<i64>,
    #[oai(nullable)]
    pub max_message_bytes: Option<i32>,
}

#[derive(Debug, Object)]
#[oai(rename = "EasyQueueEditRequest")]
pub struct EditRequest {
    #[oai(nullable)]
    pub topic: Option<TopicEdit>,
}

fn audit(req: &Request, detail: serde_json::Value) {
    if let Some(note) = req.extensions().get::<AuditNote>() {
        note.set(detail);
    }
}

/// The broker's topics of the appKey that the caller sees.
pub async fn app_topics(app: &AppKey) -> EqResult<Vec<TopicInfo>> {
    let described = admin::describe_cluster(&app.cluster, READ_TIMEOUT)
        .await
        .map_err(|e| EqError::unavailable(format!("reading the cluster's metadata: {e}")))?;
    Ok(described
        .topics
        .into_iter()
        .filter(|t| t.error.is_none() && app.owns(&t.name))
        .collect())
}

/// One topic of the appKey, or 404.
pub async fn find(app: &AppKey, name: &str) -> EqResult<TopicInfo> {
    let full = app.full_name(name);
    app_topics(app)
        .await?
        .into_iter()
        .find(|t| t.name == full)
        .ok_or_else(|| EqError::not_found(format!("topic {full} not found")))
}

/// Topics with everything EasyQueue shows.
async fn views_of(state: &AppState, app: &AppKey, topics: Vec<TopicInfo>) -> EqResult<Vec<Topic>> {
    let extras = Extras {
        offsets: true,
        groups: true,
        configs: CONFIGS,
    };
    let overview = overview::overview(
        &state.store,
        &app.cluster,
        app.cluster_id,
        topics,
        extras,
        READ_TIMEOUT,
    )
    .await?;
    Ok(overview.iter().map(|o| views::topic(app, o)).collect())
}

async fn view_of(state: &AppState, app: &AppKey, name: &str) -> EqResult<Topic> {
    let topic = find(app, name).await?;
    views_of(state, app, vec![topic])
        .await?
        .pop()
        .ok_or_else(|| EqError::not_found(format!("topic {name} not found")))
}

pub struct EasyQueueTopicsApi;

#[OpenApi(prefix_path = "/v1.0/appkeys", tag = "ApiTags::EasyQueue")]
impl EasyQueueTopicsApi {
    /// View a topic list.
    #[allow(clippy::too_many_arguments)]
    #[oai(path = "/:appKey/topics", method = "get")]
    async fn list(
        &self,
        state: poem::web::Data<&AppState>,
        auth: EqAuth,
        #[oai(name = "appKey")] app_key: Path<String>,
        /// `TOPIC_NAME`, `CREATED_AT` (default) or `UPDATED_AT`.
        #[oai(
            name = "sortKey",
            validator(pattern = "^(TOPIC_NAME|CREATED_AT|UPDATED_AT)$")
        )]
        sort_key: Query<Option<String>>,
        /// Topic ids to keep (at most 100), repeated or comma-separated.
        #[oai(name = "topicIdList", validator(max_items = 100))]
        topic_ids: Query<Option<Vec<String>>>,
        /// Keep topics whose name starts with this (with or without the
        /// `{appKey}.` prefix).
        #[oai(name = "searchTopicName")]
        search: Query<Option<String>>,
        /// `DESC` (default) or `ASC`.
        #[oai(name = "sortDirection", validator(pattern = "^(DESC|ASC)$"))]
        direction: Query<Option<String>>,
        /// From 1 (default 1).
        #[oai(validator(minimum(value = "1"), maximum(value = "4294967295")))]
        page: Query<Option<i64>>,
        /// 1 to 3,000 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "3000")))]
        limit: Query<Option<i64>>,
    ) -> Json<TopicListBody> {
        answer(
            async {
                auth.identity().require(Role::Viewer)?;
                let app = AppKey::open(&state, auth.identity(), &app_key.0).await?;
                let query = ListQuery::parse(
                    sort_key.0,
                    topic_ids.0,
                    search.0,
                    direction.0,
                    page.0,
                    limit.0,
                )?;
                let notes = notes::of_cluster(&state.store, app.cluster_id).await?;
                let mut topics: Vec<TopicInfo> = app_topics(&app)
                    .await?
                    .into_iter()
                    .filter(|t| query.keeps(&app, &t.name))
                    .collect();
                let total = topics.len();
                // Topics made elsewhere have no times: they sort as oldest.
                let time = |name: &str| {
                    notes.get(name).map(|n| match query.sort {
                        SortKey::UpdatedAt => n.updated_at,
                        _ => n.created_at,
                    })
                };
                topics.sort_by(|a, b| match query.sort {
                    SortKey::TopicName => a.name.cmp(&b.name),
                    _ => time(&a.name).cmp(&time(&b.name)).then(a.name.cmp(&b.name)),
                });
                if query.descending {
                    topics.reverse();
                }
                let page: Vec<TopicInfo> = topics
                    .into_iter()
                    .skip(query.offset)
                    .take(query.limit)
                    .collect();
                Ok(TopicListBody {
                    total_count: Some(i64::try_from(total).unwrap_or(i64::MAX)),
                    topic_list: Some(views_of(&state, &app, page).await?),
                    ..Default::default()
                })
            }
            .await,
        )
    }

    /// Create a topic (a `topic.create` task); needs ADMIN.
    #[oai(path = "/:appKey/topics", method = "post")]
    async fn create(
        &self,
        state: poem::web::Data<&AppState>,
        auth: EqAuth,
        req: &Request,
        #[oai(name = "appKey")] app_key: Path<String>,
        body: Json<CreateRequest>,
    ) -> Json<TopicBody> {
        answer(
            async {
                auth.identity().require(Role::Admin)?;
                let app = AppKey::open(&state, auth.identity(), &app_key.0).await?;
                let topic = body
                    .0
                    .topic
                    .ok_or_else(|| EqError::invalid("topic is required"))?;
                let name = validate_name(topic.topic_name.as_deref())?;
                let full = app.full_name(&name);
                audit(req, json!({ "appKey": app.app_key, "topic": full }));
                let description = validate_description(topic.description.as_deref())?;
                let partitions = required("topic.partitionCount", topic.partition_count)?;
                in_range("topic.partitionCount", partitions, &PARTITIONS)?;
                let configs = limits(
                    topic.max_retention_time_ms,
                    topic.max_retention_bytes,
                    topic.max_message_bytes,
                )?;
                app.identity
                    .may_name(app.cluster_id, "topic", &full)
                    .map_err(EqError::from)?;
                if app_topics(&app).await?.iter().any(|t| t.name == full) {
                    return Err(EqError::conflict(format!("topic {full} already exists")));
                }
                let spec = TopicSpec {
                    topic_name: full.clone(),
                    partition_count: Some(partitions),
                    replication_factor: None,
                    configs,
                    region: None,
                    user: None,
                };
                let who = requester(&app.identity, req);
                let task =
                    topics::submit(&state.store, &state.kafka, app.cluster_id, vec![spec], &who)
                        .await?
                        .pop()
                        .ok_or_else(|| EqError::unavailable("no task was recorded"))?;
                notes::upsert(&state.store, app.cluster_id, &full, &description).await?;
                finish(&state, &app, &full, settle(&state, task).await?).await
            }
            .await,
        )
    }

    /// Single topic lookup.
    #[oai(path = "/:appKey/topics/:topicName", method = "get")]
    async fn get(
        &self,
        state: poem::web::Data<&AppState>,
        auth: EqAuth,
        #[oai(name = "appKey")] app_key: Path<String>,
        #[oai(name = "topicName")] topic_name: Path<String>,
    ) -> Json<TopicBody> {
        answer(
            async {
                auth.identity().require(Role::Viewer)?;
                let app = AppKey::open(&state, auth.identity(), &app_key.0).await?;
                Ok(TopicBody {
                    topic: Some(view_of(&state, &app, &topic_name.0).await?),
                    ..Default::default()
                })
            }
            .await,
        )
    }

    /// Edit a topic: description, partitions (only increased) and the three
    /// limits; needs ADMIN.
    #[oai(path = "/:appKey/topics/:topicName", method = "put")]
    async fn edit(
        &self,
        state: poem::web::Data<&AppState>,
        auth: EqAuth,
        req: &Request,
        #[oai(name = "appKey")] app_key: Path<String>,
        #[oai(name = "topicName")] topic_name: Path<String>,
        body: Json<EditRequest>,
    ) -> Json<TopicBody> {
        answer(
            async {
                auth.identity().require(Role::Admin)?;
                let app = AppKey::open(&state, auth.identity(), &app_key.0).await?;
                let edit = body
                    .0
                    .topic
                    .ok_or_else(|| EqError::invalid("topic is required"))?;
                let full = app.full_name(&topic_name.0);
                audit(req, json!({ "appKey": app.app_key, "topic": full }));
                let description = edit
                    .description
                    .as_deref()
                    .map(|d| validate_description(Some(d)))
                    .transpose()?;
                let partitions = required("topic.partitionCount", edit.partition_count)?;
                in_range("topic.partitionCount", partitions, &PARTITIONS)?;
                let wanted = limits(
                    edit.max_retention_time_ms,
                    edit.max_retention_bytes,
                    edit.max_message_bytes,
                )?;
                let current = view_of(&state, &app, &full).await?;
                if partitions < current.partition_count {
                    return Err(EqError::invalid(format!(
                        "topic.partitionCount can only be increased: the topic has {}, got \
                         {partitions}",
                        current.partition_count
                    )));
                }
                let now = BTreeMap::from([
                    (RETENTION_MS, current.max_retention_time_ms),
                    (RETENTION_BYTES, current.max_retention_bytes),
                    (MAX_MESSAGE_BYTES, current.max_message_bytes.map(i64::from)),
                ]);
                let changed: Vec<ConfigOp> = wanted
                    .into_iter()
                    .filter(|(name, value)| {
                        now.get(name.as_str())
                            .copied()
                            .flatten()
                            .map(|v| v.to_string())
                            != Some(value.clone())
                    })
                    .map(|(name, value)| ConfigOp {
                        name,
                        value: Some(value),
                        sealed: None,
                        operation: ConfigOpKind::Set,
                    })
                    .collect();
                let who = requester(&app.identity, req);
                let mut last = None;
                if partitions > current.partition_count {
                    let task = topic_admin::submit_partition_increase(
                        &state.store,
                        app.cluster_id,
                        &full,
                        partitions,
                        &who,
                    )
                    .await?;
                    last = Some(settle(&state, task).await?);
                }
                if !changed.is_empty() {
                    let change = ConfigChange {
                        resource: ConfigResource::Topic(full.clone()),
                        ops: changed,
                    };
                    let task = topic_admin::submit_config_change(
                        &state.store,
                        app.cluster_id,
                        change,
                        &[],
                        &who,
                    )
                    .await?;
                    let settled = settle(&state, task).await?;
                    // A still-running task is the one to report.
                    if !matches!(last, Some(Waited::Running(_))) {
                        last = Some(settled);
                    }
                }
                let existing = notes::get(&state.store, app.cluster_id, &full).await?;
                let text = description
                    .or_else(|| existing.map(|n| n.description))
                    .unwrap_or_default();
                notes::upsert(&state.store, app.cluster_id, &full, &text).await?;
                match last {
                    Some(settled) => finish(&state, &app, &full, settled).await,
                    None => Ok(TopicBody {
                        topic: Some(view_of(&state, &app, &full).await?),
                        ..Default::default()
                    }),
                }
            }
            .await,
        )
    }

    /// Delete a topic (a `topic.delete` task); needs ADMIN.
    #[oai(path = "/:appKey/topics/:topicName", method = "delete")]
    async fn delete(
        &self,
        state: poem::web::Data<&AppState>,
        auth: EqAuth,
        req: &Request,
        #[oai(name = "appKey")] app_key: Path<String>,
        #[oai(name = "topicName")] topic_name: Path<String>,
    ) -> Json<DeletedBody> {
        answer(
            async {
                auth.identity().require(Role::Admin)?;
                let app = AppKey::open(&state, auth.identity(), &app_key.0).await?;
                let full = app.full_name(&topic_name.0);
                audit(req, json!({ "appKey": app.app_key, "topic": full }));
                find(&app, &full).await?;
                let task = topic_admin::submit_topic_delete(
                    &state.store,
                    app.cluster_id,
                    &full,
                    &requester(&app.identity, req),
                )
                .await?;
                let settled = settle(&state, task).await?;
                notes::remove(&state.store, app.cluster_id, &full).await?;
                Ok(DeletedBody {
                    task_id: match settled {
                        Waited::Running(task) => Some(task.id),
                        Waited::Finished(_) => None,
                    },
                    ..Default::default()
                })
            }
            .await,
        )
    }
}

/// The answer to a change: the topic as it is now, and the task's id while
/// it still runs (the topic then shows `WARNING`).
async fn finish(
    state: &AppState,
    app: &AppKey,
    full: &str,
    settled: Waited,
) -> EqResult<TopicBody> {
    match settled {
        Waited::Finished(_) => Ok(TopicBody {
            topic: Some(view_of(state, app, full).await?),
            ..Default::default()
        }),
        Waited::Running(task) => {
            let topic = match view_of(state, app, full).await {
                Ok(mut topic) => {
                    topic.topic_status = "WARNING".into();
                    Some(topic)
                }
                // Not on the broker yet: the task will create it.
                Err(_) => None,
            };
            Ok(TopicBody {
                topic,
                task_id: Some(task.id),
                ..Default::default()
            })
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SortKey {
    TopicName,
    CreatedAt,
    UpdatedAt,
}

struct ListQuery {
    sort: SortKey,
    descending: bool,
    ids: Option<Vec<String>>,
    search: Option<String>,
    offset: usize,
    limit: usize,
}

impl ListQuery {
    fn parse(
        sort: Option<String>,
        ids: Option<Vec<String>>,
        search: Option<String>,
        direction: Option<String>,
        page: Option<i64>,
        limit: Option<i64>,
    ) -> EqResult<Self> {
        let sort = match sort.as_deref().unwrap_or("CREATED_AT") {
            "TOPIC_NAME" => SortKey::TopicName,
            "CREATED_AT" => SortKey::CreatedAt,
            "UPDATED_AT" => SortKey::UpdatedAt,
            other => {
                return Err(EqError::invalid(format!(
                    "sortKey must be TOPIC_NAME, CREATED_AT or UPDATED_AT, got `{other}`"
                )));
            }
        };
        let descending = match direction.as_deref().unwrap_or("DESC") {
            "DESC" => true,
            "ASC" => false,
            other => {
                return Err(EqError::invalid(format!(
                    "sortDirection must be DESC or ASC, got `{other}`"
                )));
            }
        };
        let ids: Option<Vec<String>> = ids.map(|list| {
            list.iter()
                .flat_map(|item| item.split(','))
                .map(str::trim)
                .filter(|id| !id.is_empty())
                .map(str::to_owned)
                .collect()
        });
        if ids.as_ref().is_some_and(|ids| ids.len() > MAX_TOPIC_IDS) {
            return Err(EqError::invalid(format!(
                "topicIdList takes at most {MAX_TOPIC_IDS} ids"
            )));
        }
        let page = page.unwrap_or(1);
        if page < 1 || page > i64::from(u32::MAX) {
            return Err(EqError::invalid(format!(
                "page must be at least 1, got {page}"
            )));
        }
        let limit = limit.unwrap_or(50);
        if !(1..=i64::from(MAX_LIMIT)).contains(&limit) {
            return Err(EqError::invalid(format!(
                "limit must be between 1 and {MAX_LIMIT}, got {limit}"
            )));
        }
        let limit = usize::try_from(limit).unwrap_or(50);
        Ok(Self {
            sort,
            descending,
            ids,
            search: search.filter(|s| !s.is_empty()),
            offset: usize::try_from(page - 1)
                .unwrap_or(usize::MAX)
                .saturating_mul(limit),
            limit,
        })
    }

    fn keeps(&self, app: &AppKey, full_name: &str) -> bool {
        let short = full_name.strip_prefix(&app.prefix()).unwrap_or(full_name);
        self.search
            .as_deref()
            .is_none_or(|s| short.starts_with(s) || full_name.starts_with(s))
            && self
                .ids
                .as_ref()
                .is_none_or(|ids| ids.contains(&app.topic_id(full_name)))
    }
}

/// 1-50 letters, digits and `-`; a name given with its `{appKey}.` prefix
/// is refused, since the prefix is added.
fn validate_name(name: Option<&str>) -> EqResult<String> {
    let name = name.unwrap_or_default();
    if name.is_empty() || name.len() > MAX_NAME {
        return Err(EqError::invalid(format!(
            "topic.topicName must be 1 to {MAX_NAME} characters, got {}",
            name.len()
        )));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
    {
        return Err(EqError::invalid(format!(
            "topic.topicName may hold only letters, digits and '-', found {bad:?}"
        )));
    }
    Ok(name.to_owned())
}

fn validate_description(description: Option<&str>) -> EqResult<String> {
    let description = description.unwrap_or_default();
    if description.chars().count() > MAX_DESCRIPTION {
        return Err(EqError::invalid(format!(
            "topic.description must be at most {MAX_DESCRIPTION} characters"
        )));
    }
    Ok(description.to_owned())
}

fn required<T>(field: &str, value: Option<T>) -> EqResult<T> {
    value.ok_or_else(|| EqError::invalid(format!("{field} is required")))
}

fn in_range<T: PartialOrd + std::fmt::Display>(
    field: &str,
    value: T,
    range: &std::ops::RangeInclusive<T>,
) -> EqResult<()> {
    if range.contains(&value) {
        Ok(())
    } else {
        Err(EqError::invalid(format!(
            "{field} must be between {} and {}, got {value}",
            range.start(),
            range.end()
        )))
    }
}

/// The three required limits, checked against the seed's ranges, as Kafka
/// configs.
fn limits(
    retention_ms: Option<i64>,
    retention_bytes: Option<i64>,
    message_bytes: Option<i32>,
) -> EqResult<BTreeMap<String, String>> {
    let retention_ms = required("topic.maxRetentionTimeMs", retention_ms)?;
    in_range("topic.maxRetentionTimeMs", retention_ms, &RETENTION_TIME)?;
    let retention_bytes = required("topic.maxRetentionBytes", retention_bytes)?;
    in_range("topic.maxRetentionBytes", retention_bytes, &RETENTION_SIZE)?;
    let message_bytes = required("topic.maxMessageBytes", message_bytes)?;
    in_range("topic.maxMessageBytes", message_bytes, &MESSAGE_SIZE)?;
    Ok(BTreeMap::from([
        (RETENTION_MS.to_owned(), retention_ms.to_string()),
        (RETENTION_BYTES.to_owned(), retention_bytes.to_string()),
        (MAX_MESSAGE_BYTES.to_owned(), message_bytes.to_string()),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_seed() {
        assert!(validate_name(Some("orders-1")).is_ok());
        assert!(validate_name(Some(&"a".repeat(50))).is_ok());
        assert!(validate_name(Some(&"a".repeat(51))).is_err());
        assert!(validate_name(Some("")).is_err());
        assert!(validate_name(Some("a.b")).is_err());
        assert!(validate_name(Some("a_b")).is_err());
    }

    #[test]
    fn limits_take_both_edges() {
        assert!(limits(Some(3_600_000), Some(1_073_741_824), Some(1_024)).is_ok());
        assert!(limits(Some(1_209_600_000), Some(26_843_545_600), Some(262_144)).is_ok());
        assert!(limits(Some(3_599_999), Some(1_073_741_824), Some(1_024)).is_err());
        assert!(limits(Some(3_600_000), Some(26_843_545_601), Some(1_024)).is_err());
        assert!(limits(Some(3_600_000), Some(1_073_741_824), Some(1_023)).is_err());
        let err = limits(Some(3_600_000), None, Some(1_024)).unwrap_err();
        assert!(err.message.contains("maxRetentionBytes"), "{}", err.message);
    }
}
