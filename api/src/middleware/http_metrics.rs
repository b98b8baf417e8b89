//! HTTP request counts and latencies by route and status, for `/metrics`.

use std::time::Instant;

use poem::{Endpoint, IntoResponse, Request, Response};

pub async fn record<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
    let method = req.method().to_string();
    let route = route_label(req.uri().path());
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

/// Replaces path segments that are ids (numbers, UUIDs) with `{id}` so that
/// the label set stays small.
fn route_label(path: &str) -> String {
    path.split('/')
        .map(|seg| {
            let is_id = !seg.is_empty()
                && (seg.bytes().all(|b| b.is_ascii_digit())
                    || (seg.len() == 36
                        && seg.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')));
            if is_id { "{id}" } else { seg }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_folded() {
        assert_eq!(
            super::route_label("/api/v1/tasks/0192f0c4-7c1e-7b7a-9f5e-2f1f7d6f9a10/cancel"),
            "/api/v1/tasks/{id}/cancel"
        );
        assert_eq!(
            super::route_label("/api/v1/clusters/12"),
            "/api/v1/clusters/{id}"
        );
    }
}
