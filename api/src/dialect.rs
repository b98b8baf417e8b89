//! Which API dialect a path belongs to, and how each one spells an error:
//! the one place that renders every envelope. Errors raised before a handler
//! runs (bad JSON, wrong types, a missing or invalid token, an unknown
//! route, a body too large) reach it through `middleware::error_envelope`,
//! so that every dialect answers in its own envelope and never with a bare
//! text body.

use poem::{Response, http::StatusCode};
use serde_json::json;

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
    /// The dialect's name, for metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Dialect::TubeMq => "tubemq",
            Dialect::Tiem => "tiem",
            Dialect::Confluent => "confluent",
            Dialect::Native => "native",
        }
    }

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
                // The REST Proxy's code for a rate limit is 42901.
                "error_code": if status == StatusCode::TOO_MANY_REQUESTS { 42901 } else { u32::from(status.as_u16()) },
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
