//! `GET /v1.0/appkeys/{appKey}/statistics`: one metric of one of the
//! appKey's topics over a window, from the samples the workers store
//! (`ferry_service::stats`), in the seed's shape. The window rules are the
//! seed's (start within 90 days, 60 s to 30 days long); `step` is chosen by
//! ferry from the window. The `topic` label carries the name the caller
//! gave (without the `{appKey}.` prefix when it was given without it).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use ferry_entity::Role;
use ferry_service::stats::{self, Metric, SeriesQuery};
use poem_openapi::{Object, OpenApi, param::Path, param::Query, payload::Json};

use super::{AppKey, EqAuth, EqError, EqResult, answer, envelope};
use crate::{api_tags::ApiTags, state::AppState};

#[derive(Debug, Object)]
#[oai(rename = "EasyQueueMetricPoint")]
pub struct Point {
    /// Epoch seconds.
    pub timestamp: i64,
    pub value: f64,
}

#[derive(Debug, Object)]
#[oai(rename = "EasyQueueMetricSeries")]
pub struct SeriesEntry {
    /// `topic`; with `consumergroup` (CONSUMER_LAG), or `partition` and
    /// `broker` (LOG_SIZE_PER_PARTITION).
    pub labels: BTreeMap<String, String>,
    pub values: Vec<Point>,
}

envelope!(StatisticsBody as "EasyQueueStatistics" {
    metrics_type: String,
    /// Seconds between two points, chosen from the window.
    step: i64,
    data: Vec<SeriesEntry>,
});

fn date_time(raw: &str, field: &str) -> EqResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(raw.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            EqError::invalid(format!(
                "{field} must be an ISO 8601 date and time with an offset, e.g. \
                 2023-10-27T19:30:00+09:00"
            ))
        })
}

fn required(value: Option<String>, field: &str) -> EqResult<String> {
    value
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| EqError::invalid(format!("{field} is required")))
}

pub struct EasyQueueStatisticsApi;

#[OpenApi(prefix_path = "/v1.0/appkeys", tag = "ApiTags::EasyQueue")]
impl EasyQueueStatisticsApi {
    /// Query statistics of a topic over a window.
    // One argument per query parameter of the seed, as poem-openapi takes
    // them.
    #[allow(clippy::too_many_arguments)]
    #[oai(path = "/:appKey/statistics", method = "get")]
    async fn statistics(
        &self,
        state: poem::web::Data<&AppState>,
        auth: EqAuth,
        #[oai(name = "appKey")] app_key: Path<String>,
        /// BYTE_IN_RATE, BYTE_OUT_RATE, MESSAGE_COUNT, CONSUMER_LAG or
        /// LOG_SIZE_PER_PARTITION.
        #[oai(name = "metricsType")]
        metrics_type: Query<Option<String>>,
        /// The topic, with or without the `{appKey}.` prefix.
        #[oai(name = "topicName")]
        topic_name: Query<Option<String>>,
        /// ISO 8601, within the last 90 days.
        #[oai(name = "startDateTime")]
        start: Query<Option<String>>,
        /// ISO 8601; 60 seconds to 30 days after the start.
        #[oai(name = "endDateTime")]
        end: Query<Option<String>>,
    ) -> Json<StatisticsBody> {
        answer(
            async {
                auth.identity().require(Role::Viewer)?;
                let app = AppKey::open(&state, auth.identity(), &app_key.0).await?;
                let raw_metric = required(metrics_type.0, "metricsType")?;
                let metric = Metric::parse(raw_metric.trim()).ok_or_else(|| {
                    EqError::invalid(format!(
                        "metricsType must be one of BYTE_IN_RATE, BYTE_OUT_RATE, \
                         MESSAGE_COUNT, CONSUMER_LAG, LOG_SIZE_PER_PARTITION, got `{raw_metric}`"
                    ))
                })?;
                let given = required(topic_name.0, "topicName")?;
                let start = date_time(&required(start.0, "startDateTime")?, "startDateTime")?;
                let end = date_time(&required(end.0, "endDateTime")?, "endDateTime")?;
                let full = app.full_name(given.trim());
                if !app.owns(&full) {
                    return Err(EqError::not_found(format!("topic {full} not found")));
                }
                let series = stats::series(
                    &state.store,
                    &SeriesQuery {
                        cluster_id: app.cluster_id,
                        topic: full.clone(),
                        metric,
                        start,
                        end,
                    },
                )
                .await?;
                let shown = given.trim().to_owned();
                Ok(StatisticsBody {
                    metrics_type: Some(metric.as_str().to_owned()),
                    step: Some(series.step_seconds),
                    data: Some(
                        series
                            .data
                            .into_iter()
                            .map(|d| {
                                let mut labels = d.labels;
                                if labels.get("topic") == Some(&full) {
                                    labels.insert("topic".into(), shown.clone());
                                }
                                // Consumer groups outside the caller's reach
                                // are left out, as everywhere else.
                                SeriesEntry {
                                    labels,
                                    values: d
                                        .values
                                        .into_iter()
                                        .map(|(timestamp, value)| Point { timestamp, value })
                                        .collect(),
                                }
                            })
                            .filter(|entry| {
                                entry
                                    .labels
                                    .get("consumergroup")
                                    .is_none_or(|g| app.identity.reaches_name(app.cluster_id, g))
                            })
                            .collect(),
                    ),
                    ..Default::default()
                })
            }
            .await,
        )
    }
}
