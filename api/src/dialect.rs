//! Which API dialect a path belongs to, and how each one spells an error.
//! Errors raised before a handler runs (bad JSON, wrong types, a missing or
//! invalid token, an unknown route) are rendered here, so that every dialect
//! answers in its own envelope and never with a bare text body.

use poem::{Endpoint, IntoResponse, Request, Response, http::StatusCode};
use serde_json::json;

use crate::middleware::request_id::RequestId;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// `/v1/...`: `{errMsg, errCode, result, data}`.
    TubeMq,
    /// `/api/v1/changefeeds/...`: `{code, data, message}`.
    Tiem,
    /// `/v3/...`: `{error_code, message}`.
    Confluent,
    /// Everything else: RFC 7807 problem details.
    Native,
}

impl Dialect {
    pub fn of_path(path: &str) -> Self {
        if path.starts_with("/v1/") {
            Dialect::TubeMq
        } else if path.starts_with("/api/v1/changefeeds") {
            Dialect::Tiem
        } else if path.starts_with("/v3/") {
            Dialect::Confluent
        } else {
            Dialect::Native
        }
    }

    /// An error response in this dialect's envelope.
    pub fn error(self, status: StatusCode, message: &str, request_id: &str) -> Response {
        let body = match self {
            Dialect::TubeMq => json!({
                "errMsg": message,
                "errCode": status.as_u16(),
                "result": false,
                "data": "",
            }),
            Dialect::Tiem => json!({
                "code": status.as_u16(),
                "data": null,
                "message": message,
            }),
            Dialect::Confluent => json!({
                "error_code": status.as_u16(),
                "message": message,
            }),
            Dialect::Native => json!({
                "type": "about:blank",
                "title": status.canonical_reason().unwrap_or("Error"),
                "status": status.as_u16(),
                "detail": message,
                "requestId": request_id,
            }),
        };
        let content_type = if self == Dialect::Native {
            "application/problem+json"
        } else {
            "application/json"
        };
        Response::builder()
            .status(status)
            .content_type(content_type)
            .body(body.to_string())
    }
}

/// Renders framework errors in the dialect of the request's path. Responses
/// that handlers built themselves (already JSON) pass through untouched.
pub async fn render_errors<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
    let dialect = Dialect::of_path(req.uri().path());
    let request_id = req
        .extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default();
    let err = match next.call(req).await {
        Ok(resp) => return Ok(finish_problem(dialect, resp.into_response(), &request_id).await),
        Err(err) => err,
    };
    let status = err.status();
    let message = friendly_message(status, &err.to_string());
    if status.is_server_error() {
        tracing::error!(error = %err, "request failed");
    }
    let resp = err.into_response();
    let is_json = resp
        .headers()
        .get(poem::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    if is_json {
        return Ok(finish_problem(dialect, resp, &request_id).await);
    }
    Ok(dialect.error(status, &message, &request_id))
}

/// Native errors built by handlers (`NativeError`) get the same shape as
/// those rendered here: the `application/problem+json` content type and the
/// request id, so that a caller can quote it when asking about a failure.
async fn finish_problem(dialect: Dialect, resp: Response, request_id: &str) -> Response {
    if dialect != Dialect::Native || resp.status().as_u16() < 400 {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let Ok(bytes) = body.into_bytes().await else {
        return Response::from_parts(parts, poem::Body::empty());
    };
    match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(serde_json::Value::Object(mut problem)) => {
            problem
                .entry("requestId")
                .or_insert_with(|| serde_json::Value::String(request_id.to_owned()));
            let mut resp = Response::from_parts(
                parts,
                poem::Body::from(serde_json::Value::Object(problem).to_string()),
            );
            resp.headers_mut().insert(
                poem::http::header::CONTENT_TYPE,
                poem::http::HeaderValue::from_static("application/problem+json"),
            );
            resp
        }
        _ => Response::from_parts(parts, poem::Body::from(bytes)),
    }
}

fn friendly_message(status: StatusCode, raw: &str) -> String {
    match status {
        StatusCode::UNAUTHORIZED => {
            "missing or invalid bearer token (send `Authorization: Bearer <token>`)".to_owned()
        }
        StatusCode::NOT_FOUND if raw.is_empty() || raw == "not found" => "no such route".to_owned(),
        StatusCode::METHOD_NOT_ALLOWED => "method not allowed on this route".to_owned(),
        _ if raw.is_empty() => status.canonical_reason().unwrap_or("error").to_owned(),
        _ => raw.to_owned(),
    }
}
