//! The Confluent REST Proxy v3 admin dialect: `/v3/clusters/{cluster_id}/...`
//! topics, partitions, replicas, configs, ACLs, brokers and consumer groups, in
//! Confluent's shapes (`kind`, `metadata.self`, `metadata.resource_name`,
//! `related` links) and error envelope `{"error_code": N, "message": "..."}`.
//!
//! `{cluster_id}` is ferry's id of a registered Kafka cluster (the numeric ids
//! of `/api/v1/clusters`), not Kafka's own cluster id: ferry administers many
//! clusters, each registered once with its credentials.
//!
//! Status and error codes:
//! - 404 `404`: unknown cluster, broker, config or assignment (Confluent's
//!   REST Proxy answers `error_code` 404 for an unknown cluster too);
//!   `40401` topic, `40402` partition, `40403` consumer group or consumer.
//! - 422 `422`: an invalid request; the message names the field.
//! - 400 `400`: the body breaks its schema's shape (a wrong type, a field
//!   missing); 422 `422` a rule of it (a length, a range, a pattern).
//! - 409 `40901`: a task for the same topic is in progress; `40902`: the
//!   task was cancelled; `40903`: the cluster refused a well-formed change
//!   (the topic exists, more replicas than brokers, a config value the
//!   broker rejects); the message says why.
//! - 403 `403`: the token's role may not do this (mutations need `client`).
//! - 502 `50002`: a Kafka error that retrying will not fix; 503 `50003`: the
//!   cluster is unreachable or slow (retry); 503 `503`: the metadata store is.
//!
//! Creating and deleting topics, raising a partition count, changing configs
//! and creating and deleting ACLs are tasks: the call waits up to
//! `api.task_wait_ms` for its task and answers as Confluent does (200, 201,
//! 204); a task still running then is answered with 202 and a link to it.

use std::{sync::Arc, time::Duration};

use ferry_entity::{ClusterId, FailureKind, TaskStatus};
use ferry_service::{
    error::ErrorKind,
    kafka::{
        KafkaCluster,
        produce::{self as kafka_produce, Delivery, OutgoingRecord},
    },
    tasks::{Task, Waited},
};
use poem::Request;
use poem_openapi::{ApiResponse, Object, payload::Json};
use serde_json::Value;

use crate::{auth::Identity, middleware::audit::AuditNote, state::AppState};

pub(crate) use error::body;
pub use error::{
    ConfluentError, ErrorBody, GROUP_NOT_FOUND, KAFKA_ERROR, KAFKA_REFUSED, KAFKA_RETRIABLE,
    PARTITION_NOT_FOUND, TASK_CANCELLED, TASK_IN_PROGRESS, TOPIC_NOT_FOUND, V3Result,
};

pub mod acls;
pub mod broker_configs;
pub mod brokers;
pub mod clusters;
pub mod configs;
pub mod consumer_groups;
pub mod error;
pub mod lags;
pub mod partitions;
pub mod reassignments;
pub mod records;
pub mod remove_brokers;
pub mod topics;
pub mod v2;

/// Every v3 route, as one element of the application's API tuple.
pub type ConfluentApis = (
    clusters::ConfluentClustersApi,
    acls::ConfluentAclsApi,
    topics::ConfluentTopicsApi,
    partitions::ConfluentPartitionsApi,
    reassignments::ConfluentReassignmentsApi,
    configs::ConfluentTopicConfigsApi,
    broker_configs::ConfluentBrokerConfigsApi,
    brokers::ConfluentBrokersApi,
    remove_brokers::ConfluentRemoveBrokersApi,
    consumer_groups::ConfluentConsumerGroupsApi,
    lags::ConfluentLagsApi,
    records::ConfluentRecordsApi,
    v2::ConfluentV2Apis,
);

pub fn apis() -> ConfluentApis {
    (
        clusters::ConfluentClustersApi,
        acls::ConfluentAclsApi,
        topics::ConfluentTopicsApi,
        partitions::ConfluentPartitionsApi,
        reassignments::ConfluentReassignmentsApi,
        configs::ConfluentTopicConfigsApi,
        broker_configs::ConfluentBrokerConfigsApi,
        brokers::ConfluentBrokersApi,
        remove_brokers::ConfluentRemoveBrokersApi,
        consumer_groups::ConfluentConsumerGroupsApi,
        lags::ConfluentLagsApi,
        records::ConfluentRecordsApi,
        v2::apis(),
    )
}

/// How long a read may wait for the cluster before answering 503.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Object)]
pub struct ResourceMetadata {
    #[oai(rename = "self")]
    pub self_: String,
    #[oai(nullable)]
    pub resource_name: Option<String>,
}

#[derive(Debug, Object)]
pub struct ListMetadata {
    #[oai(rename = "self")]
    pub self_: String,
    /// Always null: every list is answered in one page.
    #[oai(nullable)]
    pub next: Option<String>,
}

/// A link to a related resource.
#[derive(Debug, Object)]
pub struct Related {
    pub related: String,
}

pub fn related(url: String) -> Related {
    Related { related: url }
}

pub fn list_meta(self_: String) -> ListMetadata {
    ListMetadata { self_, next: None }
}

/// A `{kind, metadata, data}` list of one resource type.
macro_rules! list_type {
    ($name:ident, $item:ty) => {
        #[derive(Debug, poem_openapi::Object)]
        pub struct $name {
            pub kind: String,
            pub metadata: $crate::confluent::ListMetadata,
            pub data: Vec<$item>,
        }
    };
}
pub(crate) use list_type;

/// Percent-encodes one path segment of a link (group and consumer ids may
/// hold any character).
pub fn seg(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for b in raw.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `scheme://host` of the request, for `metadata.self` and `related` links.
/// A reverse proxy's `X-Forwarded-Proto` is honoured; a Host header that
/// does not look like a host name is not echoed back.
pub fn base_url(req: &Request) -> String {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let host = header("host")
        .filter(|h| {
            h.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
        })
        .unwrap_or("localhost");
    let scheme = match header("x-forwarded-proto") {
        Some("https") => "https",
        _ => "http",
    };
    format!("{scheme}://{host}")
}

/// Who is calling and which cluster: what every v3 handler starts from.
pub struct Ctx {
    /// `http://host`.
    pub base: String,
    pub cluster_id: ClusterId,
    pub cluster: Arc<KafkaCluster>,
    /// The caller, whose project (if any) limits the topics and groups it
    /// sees on this cluster.
    pub identity: Identity,
}

impl Ctx {
    /// Resolves `{cluster_id}` to a registered Kafka cluster the caller
    /// reaches, and its client: a cluster not granted to the caller's
    /// project cannot be found.
    pub async fn open(state: &AppState, req: &Request, raw_id: &str) -> V3Result<Self> {
        let not_found =
            || ConfluentError::not_found(404, format!("Cluster {raw_id} cannot be found."));
        let cluster_id = ClusterId::parse(raw_id).ok_or_else(not_found)?;
        let identity = req
            .extensions()
            .get::<Identity>()
            .cloned()
            .ok_or_else(not_found)?;
        if !identity.reaches_cluster(cluster_id) {
            return Err(not_found());
        }
        let cluster = match state.kafka.get(&state.store, cluster_id).await {
            Ok(c) => c,
            Err(e) if e.kind() == ErrorKind::NotFound => return Err(not_found()),
            Err(e) if e.kind() == ErrorKind::Invalid => {
                return Err(ConfluentError::BadGateway(body(
                    KAFKA_ERROR,
                    format!("cluster {cluster_id}: {}", e.message()),
                )));
            }
            Err(e) => return Err(e.into()),
        };
        Ok(Self {
            base: base_url(req),
            cluster_id,
            cluster,
            identity,
        })
    }

    /// Whether the caller sees the topic or consumer group `name` (a
    /// project under a prefix sees only names that start with it).
    pub fn sees(&self, name: &str) -> bool {
        self.identity.reaches_name(self.cluster_id, name)
    }

    /// The caller may create a topic named `name`, or 403 naming the prefix.
    pub fn may_name(&self, name: &str) -> V3Result<()> {
        Ok(self.identity.may_name(self.cluster_id, "topic", name)?)
    }

    /// `http://host/v3/clusters/{id}` followed by `suffix`.
    pub fn url(&self, suffix: &str) -> String {
        format!("{}/v3/clusters/{}{suffix}", self.base, self.cluster_id)
    }

    /// `crn:///kafka={id}` followed by `suffix`.
    pub fn crn(&self, suffix: &str) -> String {
        format!("crn:///kafka={}{suffix}", self.cluster_id)
    }

    /// `metadata` of a resource at `suffix` with the resource name `crn`.
    pub fn meta(&self, suffix: &str, crn: &str) -> ResourceMetadata {
        ResourceMetadata {
            self_: self.url(suffix),
            resource_name: Some(self.crn(crn)),
        }
    }

    pub fn cluster_id(&self) -> String {
        self.cluster_id.to_string()
    }
}

/// Reads `?validate_only=` and the body's `validate_only`, either of which
/// asks for a dry run.
pub fn validate_only(query: Option<bool>, body: Option<bool>) -> bool {
    query.unwrap_or(false) || body.unwrap_or(false)
}

/// Adds the dialect's details to the call's audit entry.
pub fn audit(req: &Request, detail: Value) {
    if let Some(note) = req.extensions().get::<AuditNote>() {
        note.set(detail);
    }
}

/// A change still running when the call stopped waiting.
#[derive(Debug, Object)]
pub struct TaskAccepted {
    /// `FerryTask`.
    pub kind: String,
    /// `self` is the task in the native API (`/api/v1/tasks/{id}`).
    pub metadata: ResourceMetadata,
    pub task_id: String,
    /// `topic.create`, `topic.delete`, `topic.partitions`, `topic.config`,
    /// `broker.config`, `acl.create` or `acl.delete`.
    pub task_kind: String,
    /// `pending` or `running`.
    pub status: String,
    pub message: String,
}

impl TaskAccepted {
    pub fn new(base: &str, task: &Task) -> (Json<Self>, String) {
        let url = format!("{base}/api/v1/tasks/{}", task.id);
        let accepted = Self {
            kind: "FerryTask".into(),
            metadata: ResourceMetadata {
                self_: url.clone(),
                resource_name: None,
            },
            task_id: task.id.clone(),
            task_kind: task.kind.as_str().to_owned(),
            status: task.status.as_str().to_owned(),
            message:
                "the change was accepted and is still running; follow the task for its outcome"
                    .into(),
        };
        (Json(accepted), url)
    }
}

/// The answer to a change that has no body of its own.
#[derive(Debug, ApiResponse)]
pub enum Applied {
    /// Done; with `validate_only`, valid and nothing was changed.
    #[oai(status = 204)]
    Done,
    /// Still running after the wait: follow the task in `Location`.
    #[oai(status = 202)]
    Accepted(Json<TaskAccepted>, #[oai(header = "Location")] String),
}

/// Waits up to `api.task_wait_ms` for a change's task: a finished task is a
/// succeeded one; a failed or cancelled one is answered as an error.
pub async fn wait_task(state: &AppState, task: Task) -> V3Result<Waited> {
    match crate::edge::wait_task(state, task).await? {
        running @ Waited::Running(_) => Ok(running),
        Waited::Finished(task) => match task.status {
            TaskStatus::Succeeded => Ok(Waited::Finished(task)),
            TaskStatus::Cancelled => Err(ConfluentError::conflict(
                TASK_CANCELLED,
                format!("task {} was cancelled before it ran", task.id),
            )),
            _ => Err(task_failure(&task)),
        },
    }
}

/// A failed task: retries exhausted on a transient error, or a timeout, is
/// the cluster's unavailability (503); anything else is Kafka refusing the
/// change (409 `40903`).
fn task_failure(task: &Task) -> ConfluentError {
    let reason = task.last_error.as_deref().unwrap_or("the change failed");
    let message = format!("{reason} (task {})", task.id);
    if task.failure.is_some_and(FailureKind::is_transient) {
        ConfluentError::Unavailable(body(KAFKA_RETRIABLE, message))
    } else {
        ConfluentError::refused(message)
    }
}

/// Answers a change as done (204) or still running (202).
pub async fn applied(state: &AppState, base: &str, task: Task) -> V3Result<Applied> {
    Ok(match wait_task(state, task).await? {
        Waited::Finished(_) => Applied::Done,
        Waited::Running(task) => {
            let (body, location) = TaskAccepted::new(base, &task);
            Applied::Accepted(body, location)
        }
    })
}

/// Produces `records` to `topic`, one delivery per record in order, and
/// counts them in `ferry_produced_records_total`: how both produce dialects
/// (v2 and v3's `records`) reach the cluster's producer.
pub async fn produce(
    cluster: &Arc<KafkaCluster>,
    topic: &str,
    records: Vec<OutgoingRecord>,
) -> V3Result<Vec<Delivery>> {
    let deliveries = kafka_produce::produce(cluster, topic, records)
        .await
        .map_err(|e| ConfluentError::kafka(&format!("producing to topic '{topic}'"), e))?;
    let written = deliveries
        .iter()
        .filter(|d| matches!(d, Delivery::Written { .. }))
        .count();
    metrics::counter!("ferry_produced_records_total", "dialect" => "confluent", "outcome" => "written")
        .increment(written as u64);
    metrics::counter!("ferry_produced_records_total", "dialect" => "confluent", "outcome" => "failed")
        .increment((deliveries.len() - written) as u64);
    Ok(deliveries)
}

/// Parses a numeric id from a path (partition, broker); `None` when it is
/// not a non-negative 32-bit integer.
pub fn parse_index(raw: &str) -> Option<i32> {
    raw.trim().parse::<i32>().ok().filter(|v| *v >= 0)
}

/// `usize` counts as Confluent's 32-bit integers.
pub fn count(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_percent_encoded() {
        assert_eq!(seg("orders.v1_x-y~"), "orders.v1_x-y~");
        assert_eq!(seg("a b/c"), "a%20b%2Fc");
    }

    #[test]
    fn indexes_are_non_negative_integers() {
        assert_eq!(parse_index("3"), Some(3));
        assert_eq!(parse_index("-1"), None);
        assert_eq!(parse_index("x"), None);
    }
}
