//! HTTP request counts and latencies by route template and status, for
//! `/metrics`. The label is the route's template (`route_labels`), or
//! `unmatched` for a path no route has, so that the label set is bounded by
//! the routes, whatever paths callers send.

use std::time::Instant;

use poem::{Endpoint, IntoResponse, Request, Response};

use crate::{route_labels::UNMATCHED, state::AppState};

pub async fn record<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
    let method = req.method().to_string();
    let route = req
        .data::<AppState>()
        .map_or(UNMATCHED, |s| s.routes.label(req.uri().path()))
        .to_owned();
    let started = Instant::now();
    let result = next.call(req).await.map(IntoResponse::into_response);
    let status = match &result {
        Ok(resp) => resp.status().as_u16(),
        Err(err) => err.status().as_u16(),
    };
    let labels = [
        ("method", method),
        ("route", route),
        ("status", status.to_string()),
    ];
    metrics::counter!("ferry_http_requests_total", &labels).increment(1);
    metrics::histogram!("ferry_http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    result
}
