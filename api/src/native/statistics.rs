//! `GET /api/v1/clusters/{id}/statistics`: one metric of one topic over a
//! window, from the samples the workers store (`ferry_service::stats`), in
//! the shape EasyQueue's statistics API answers (`metricsType`, `step`,
//! `data[{labels, values[{timestamp, value}]}]`).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use ferry_entity::{ClusterId, ClusterKind, Role};
use ferry_service::{
    clusters,
    stats::{self, Metric, SeriesQuery},
};
use poem_openapi::{Object, OpenApi, param::Path, param::Query, payload::Json};

use super::{NativeError, NativeResult};
use crate::{api_tags::ApiTags, auth::BearerAuth, state::AppState};

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct Statistics {
    /// BYTE_IN_RATE, BYTE_OUT_RATE, MESSAGE_COUNT, CONSUMER_LAG or
    /// LOG_SIZE_PER_PARTITION.
    pub metrics_type: String,
    /// Seconds between two points, chosen by ferry from the window.
    pub step: i64,
    pub data: Vec<StatisticsSeries>,
}

#[derive(Debug, Object)]
pub struct StatisticsSeries {
    /// `topic`; with `consumergroup` (CONSUMER_LAG), or `partition` and
    /// `broker` (LOG_SIZE_PER_PARTITION).
    pub labels: BTreeMap<String, String>,
    pub values: Vec<StatisticsPoint>,
}

#[derive(Debug, Object)]
pub struct StatisticsPoint {
    /// Epoch seconds, the start of the step.
    pub timestamp: i64,
    pub value: f64,
}

fn required(value: Option<String>, field: &str) -> NativeResult<String> {
    value
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| NativeError::bad_request(format!("{field} is required")))
}

fn date_time(raw: &str, field: &str) -> NativeResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(raw.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            NativeError::bad_request(format!(
                "{field} must be an ISO 8601 date and time with an offset, e.g. 2023-10-27T19:30:00+09:00"
            ))
        })
}

pub struct StatisticsApi;

#[OpenApi(prefix_path = "/api/v1/clusters", tag = "ApiTags::Clusters")]
impl StatisticsApi {
    /// One metric of a topic over time (a project's tokens: topics under its
    /// prefix on granted clusters). The window must start within the last
    /// 90 days and last 60 s to 30 days; the step follows from it.
    #[oai(path = "/:id/statistics", method = "get")]
    #[allow(clippy::too_many_arguments)]
    async fn statistics(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
        #[oai(name = "metricsType")] metrics_type: Query<Option<String>>,
        #[oai(name = "topicName")] topic_name: Query<Option<String>>,
        #[oai(name = "startDateTime")] start_date_time: Query<Option<String>>,
        #[oai(name = "endDateTime")] end_date_time: Query<Option<String>>,
    ) -> NativeResult<Json<Statistics>> {
        auth.0.require(Role::Viewer)?;
        let cluster = ClusterId::parse(&id.0)
            .ok_or_else(|| NativeError::not_found(format!("no cluster {}", id.0)))?;
        auth.0.see_cluster(cluster)?;
        let view = clusters::get(&state.store, cluster).await?;
        if view.kind != ClusterKind::Kafka {
            return Err(NativeError::not_found(format!(
                "cluster {cluster} is not a kafka cluster"
            )));
        }
        let raw_metric = required(metrics_type.0, "metricsType")?;
        let metric = Metric::parse(raw_metric.trim()).ok_or_else(|| {
            NativeError::bad_request(format!(
                "metricsType `{raw_metric}` is not one of BYTE_IN_RATE, BYTE_OUT_RATE, MESSAGE_COUNT, CONSUMER_LAG, LOG_SIZE_PER_PARTITION"
            ))
        })?;
        let topic = required(topic_name.0, "topicName")?;
        let start = date_time(
            &required(start_date_time.0, "startDateTime")?,
            "startDateTime",
        )?;
        let end = date_time(&required(end_date_time.0, "endDateTime")?, "endDateTime")?;
        auth.0.see_name(cluster, "topic", &topic)?;
        let query = SeriesQuery {
            cluster_id: cluster,
            topic,
            metric,
            start,
            end,
        };
        let series = stats::series(&state.store, &query).await?;
        let data = series
            .data
            .into_iter()
            // A project sees only the consumer groups under its prefix.
            .filter(|s| {
                s.labels
                    .get("consumergroup")
                    .is_none_or(|g| auth.0.reaches_name(cluster, g))
            })
            .map(|s| StatisticsSeries {
                labels: s.labels,
                values: s
                    .values
                    .into_iter()
                    .map(|(timestamp, value)| StatisticsPoint { timestamp, value })
                    .collect(),
            })
            .collect();
        Ok(Json(Statistics {
            metrics_type: metric.as_str().to_owned(),
            step: series.step_seconds,
            data,
        }))
    }
}
