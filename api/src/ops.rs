//! Operational endpoints: liveness, readiness and Prometheus metrics.
//! Task counts, queue depth and changefeed lag and state are read from the
//! database at scrape time; durations and row rates are this process's.

use ferry_entity::{TaskKind, TaskStatus};
use ferry_service::tasks;
use poem::{IntoResponse, Request, Response, handler, http::StatusCode, web::Data};
use sea_orm::Iterable;

use crate::{auth::Identity, dialect::Dialect, middleware::request_id::RequestId, state::AppState};

/// The process is up.
#[handler]
pub fn healthz() -> &'static str {
    "ok"
}

/// The metadata store answers and its schema is current.
#[handler]
pub async fn readyz(state: Data<&AppState>) -> Response {
    if state.store.is_ready().await {
        "ready".into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "metadata store unreachable or not migrated",
        )
            .into_response()
    }
}

/// Prometheus text format. Task counts and queue depth are read from the
/// database at scrape time, so they are true across all workers; attempt
/// durations are those of the worker running inside this process, if any.
#[handler]
pub async fn prometheus(req: &Request, state: Data<&AppState>) -> Response {
    if req.extensions().get::<Identity>().is_none() {
        let request_id = req
            .extensions()
            .get::<RequestId>()
            .map(|r| r.0.as_str())
            .unwrap_or_default();
        return Dialect::Native.error(
            StatusCode::UNAUTHORIZED,
            "missing or invalid bearer token (send `Authorization: Bearer <token>`)",
            request_id,
        );
    }
    match tasks::counts(&state.store.db).await {
        Ok(rows) => {
            for kind in TaskKind::iter() {
                for status in TaskStatus::iter() {
                    ::metrics::gauge!("ferry_tasks", "kind" => kind.as_str(), "status" => status.as_str()).set(0.0);
                }
            }
            let mut depth = 0i64;
            for row in rows {
                if row.status == TaskStatus::Pending {
                    depth += row.count;
                }
                ::metrics::gauge!("ferry_tasks", "kind" => row.kind.as_str(), "status" => row.status.as_str())
                    .set(row.count as f64);
            }
            ::metrics::gauge!("ferry_queue_depth").set(depth as f64);
        }
        Err(err) => tracing::warn!(error = %err, "reading task counts for /metrics failed"),
    }
    let mut text = state.metrics.render();
    match changefeed_gauges(&state).await {
        Ok(gauges) => text.push_str(&gauges),
        Err(err) => tracing::warn!(error = %err, "reading changefeeds for /metrics failed"),
    }
    match changeset_gauges(&state).await {
        Ok(gauges) => text.push_str(&gauges),
        Err(err) => tracing::warn!(error = %err, "reading changesets for /metrics failed"),
    }
    match sampler_gauges(&state).await {
        Ok(gauges) => text.push_str(&gauges),
        Err(err) => {
            tracing::warn!(error = %err.detail(), "reading statistics samplers for /metrics failed")
        }
    }
    Response::builder()
        .content_type("text/plain; version=0.0.4")
        .body(text)
}

/// Per changefeed: lag (newest upstream change minus checkpoint) and state,
/// from the database so that they hold whichever worker runs it. They are
/// written here for each scrape rather than kept by the recorder, which
/// keeps a series for ever: a deleted changefeed's series leave with it.
async fn changefeed_gauges(state: &AppState) -> Result<String, sea_orm::DbErr> {
    use std::fmt::Write;

    use ferry_entity::{ChangefeedState, changefeed};
    use ferry_service::changefeeds::tso;
    use sea_orm::EntityTrait;

    let feeds = changefeed::Entity::find().all(&state.store.db).await?;
    let mut lag = String::from("# TYPE ferry_changefeed_lag_seconds gauge\n");
    let mut states = String::from("# TYPE ferry_changefeed_state gauge\n");
    for cf in &feeds {
        let lag_ms = tso::to_unix_ms(cf.upstream_ts.max(0) as u64)
            .saturating_sub(tso::to_unix_ms(cf.checkpoint_ts.max(0) as u64));
        let (id, name) = (label(&cf.id), label(&cf.name));
        let _ = writeln!(
            lag,
            "ferry_changefeed_lag_seconds{{changefeed=\"{id}\",name=\"{name}\"}} {}",
            lag_ms as f64 / 1000.0
        );
        for candidate in ChangefeedState::iter() {
            let value = u8::from(cf.state == candidate);
            let _ = writeln!(
                states,
                "ferry_changefeed_state{{changefeed=\"{id}\",state=\"{candidate}\"}} {value}"
            );
        }
    }
    if feeds.is_empty() {
        return Ok(String::new());
    }
    Ok(format!("{lag}{states}"))
}

/// Per watched changeset: how many changes its last drift check found (0
/// before the first) and how long ago that check ran, from the database.
async fn changeset_gauges(state: &AppState) -> Result<String, sea_orm::DbErr> {
    use std::fmt::Write;

    use ferry_entity::changeset::{self, ChangesetStatus};
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

    let watched = changeset::Entity::find()
        .filter(changeset::Column::Watch.eq(true))
        .filter(changeset::Column::Status.eq(ChangesetStatus::Applied))
        .all(&state.store.db)
        .await?;
    if watched.is_empty() {
        return Ok(String::new());
    }
    let now = chrono::Utc::now();
    let mut drift = String::from("# TYPE ferry_changeset_drift_changes gauge\n");
    let mut age = String::from("# TYPE ferry_changeset_drift_checked_age_seconds gauge\n");
    for cs in &watched {
        let labels = format!(
            "changeset=\"{}\",name=\"{}\",cluster=\"{}\"",
            label(&cs.id),
            label(&cs.name),
            cs.cluster_id
        );
        let changes = cs.drift.as_ref().map_or(0, |d| d.changes.len());
        let _ = writeln!(drift, "ferry_changeset_drift_changes{{{labels}}} {changes}");
        if let Some(d) = &cs.drift {
            let seconds = (now - d.checked_at).num_milliseconds().max(0) as f64 / 1000.0;
            let _ = writeln!(
                age,
                "ferry_changeset_drift_checked_age_seconds{{{labels}}} {seconds}"
            );
        }
    }
    Ok(format!("{drift}{age}"))
}

/// Per sampled cluster, from the database so that they hold whichever worker
/// samples it: the age of its last sample, how long that sample took (wall
/// and process CPU time), and
/// whether its sampler is behind (no sample for two intervals, a sample
/// that took longer than the interval, or nobody sampling the cluster).
async fn sampler_gauges(state: &AppState) -> Result<String, ferry_service::error::ServiceError> {
    use std::fmt::Write;

    let samplers = ferry_service::stats::samplers(&state.store).await?;
    if samplers.is_empty() {
        return Ok(String::new());
    }
    let now_ms = chrono::Utc::now().timestamp_millis();
    let mut age = String::from("# TYPE ferry_stats_sample_age_seconds gauge\n");
    let mut took = String::from("# TYPE ferry_stats_last_sample_duration_seconds gauge\n");
    let mut cpu = String::from("# TYPE ferry_stats_last_sample_cpu_seconds gauge\n");
    let mut behind = String::from("# TYPE ferry_stats_sampler_behind gauge\n");
    for s in &samplers {
        let cluster = s.cluster_id;
        let interval_ms = s.interval_seconds.max(1) * 1000;
        let age_ms = s.last_sample_ms.map(|at| (now_ms - at).max(0));
        if let Some(age_ms) = age_ms {
            let _ = writeln!(
                age,
                "ferry_stats_sample_age_seconds{{cluster=\"{cluster}\"}} {}",
                age_ms as f64 / 1000.0
            );
        }
        if let Some(ms) = s.last_duration_ms {
            let _ = writeln!(
                took,
                "ferry_stats_last_sample_duration_seconds{{cluster=\"{cluster}\"}} {}",
                ms as f64 / 1000.0
            );
        }
        if let Some(ms) = s.last_cpu_ms {
            let _ = writeln!(
                cpu,
                "ferry_stats_last_sample_cpu_seconds{{cluster=\"{cluster}\"}} {}",
                ms as f64 / 1000.0
            );
        }
        let late = match age_ms {
            Some(age_ms) => age_ms > 2 * interval_ms,
            None => s.owner.is_none(),
        };
        let slow = s.last_duration_ms.is_some_and(|ms| ms > interval_ms);
        let _ = writeln!(
            behind,
            "ferry_stats_sampler_behind{{cluster=\"{cluster}\"}} {}",
            u8::from(late || slow)
        );
    }
    Ok(format!("{age}{took}{cpu}{behind}"))
}

/// A label value in the text format: `\`, `"` and newlines escaped.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
