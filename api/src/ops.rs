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
    if let Err(err) = changefeed_gauges(&state).await {
        tracing::warn!(error = %err, "reading changefeeds for /metrics failed");
    }
    Response::builder()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render())
}

/// Per changefeed: lag (newest upstream change minus checkpoint) and state,
/// from the database so that they hold whichever worker runs it.
async fn changefeed_gauges(state: &AppState) -> Result<(), sea_orm::DbErr> {
    use ferry_entity::{ChangefeedState, changefeed};
    use ferry_service::changefeeds::tso;
    use sea_orm::EntityTrait;

    for cf in changefeed::Entity::find().all(&state.store.db).await? {
        let lag_ms = tso::to_unix_ms(cf.upstream_ts.max(0) as u64)
            .saturating_sub(tso::to_unix_ms(cf.checkpoint_ts.max(0) as u64));
        ::metrics::gauge!("ferry_changefeed_lag_seconds", "changefeed" => cf.id.clone(), "name" => cf.name.clone())
            .set(lag_ms as f64 / 1000.0);
        for candidate in ChangefeedState::iter() {
            let value = if cf.state == candidate { 1.0 } else { 0.0 };
            ::metrics::gauge!("ferry_changefeed_state", "changefeed" => cf.id.clone(), "state" => candidate.as_str()).set(value);
        }
    }
    Ok(())
}
