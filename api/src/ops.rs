//! Operational endpoints: liveness, readiness and Prometheus metrics.

use ferry_entity::{TaskKind, TaskStatus};
use ferry_worker::tasks;
use poem::{IntoResponse, Request, Response, handler, http::StatusCode, web::Data};

use crate::{auth::Identity, dialect::Dialect, state::AppState};

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
        return Dialect::Native.error(
            StatusCode::UNAUTHORIZED,
            "missing or invalid bearer token (send `Authorization: Bearer <token>`)",
            "",
        );
    }
    match tasks::counts(&state.store.db).await {
        Ok(rows) => {
            for kind in TaskKind::ALL {
                for status in TaskStatus::ALL {
                    ::metrics::gauge!("ferry_tasks", "kind" => kind.as_str(), "status" => status.as_str()).set(0.0);
                }
            }
            let mut depth = 0i64;
            for row in rows {
                if row.status == TaskStatus::Pending.as_str() {
                    depth += row.count;
                }
                ::metrics::gauge!("ferry_tasks", "kind" => row.kind, "status" => row.status)
                    .set(row.count as f64);
            }
            ::metrics::gauge!("ferry_queue_depth").set(depth as f64);
        }
        Err(err) => tracing::warn!(error = %err, "reading task counts for /metrics failed"),
    }
    Response::builder()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render())
}
