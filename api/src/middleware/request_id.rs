//! A request id on every request: the caller's `X-Request-Id` when it sends a
//! sane one, else a new UUID v7. It is echoed in the response, attached to the
//! request's tracing span, stored on tasks and in the audit log.

use poem::{Endpoint, IntoResponse, Request, Response};
use tracing::Instrument;

pub const HEADER: &str = "x-request-id";

#[derive(Debug, Clone)]
pub struct RequestId(pub String);

pub async fn assign<E: Endpoint>(next: E, mut req: Request) -> poem::Result<Response> {
    let id = req
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    req.extensions_mut().insert(RequestId(id.clone()));
    let span = tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.uri().path());
    let mut resp = next.call(req).instrument(span).await?.into_response();
    if let Ok(value) = id.parse() {
        resp.headers_mut().insert(HEADER, value);
    }
    Ok(resp)
}
