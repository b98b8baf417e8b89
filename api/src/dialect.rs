//! Which API dialect a path belongs to, and how each one spells an error:
//! the one place that renders every envelope. Errors raised before a handler
//! runs (bad JSON, wrong types, a missing or invalid token, an unknown
//! route, a body too large) reach it through `middleware::error_envelope`,
//! so that every dialect answers in its own envelope and never with a bare
//! text body.

use poem::{Response, http::StatusCode};
use serde_json::json;

use crate::body_schemas::Violation;

/// REST Proxy v2's content type, in which its answers and errors are sent
/// (`middleware::kafka_accept` may respell it as the client asks).
pub const KAFKA_V2_JSON: &str = "application/vnd.kafka.v2+json";

/// Routes whose body is a stream of records, read as it arrives
/// (`confluent::records`): the body-size limit holds per record there, and
/// the handler checks each record against the document.
pub const STREAMED_ROUTES: [&str; 1] = ["/v3/clusters/{cluster_id}/topics/{topic_name}/records"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// `/v1/...`: `{errMsg, errCode, result, data}`.
    TubeMq,
    /// `/api/v1/changefeeds/...`: `{code, data, message}`.
    Tiem,
    /// `/v3/...`: `{error_code, message}`.
    Confluent,
    /// `/topics`, `/consumers`, `/brokers` (REST Proxy v2): `{error_code,
    /// message}` in `application/vnd.kafka.v2+json`.
    ConfluentV2,
    /// `/v1.0/appkeys/...`: HTTP 200 with `{header: {isSuccessful,
    /// resultCode, resultMessage}}`, for errors too.
    EasyQueue,
    /// `/v2/databases/...`: `{id, message, request_id}`.
    DigitalOcean,
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
            Dialect::ConfluentV2 => "confluent_v2",
            Dialect::EasyQueue => "easyqueue",
            Dialect::DigitalOcean => "digitalocean",
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
        } else if path.starts_with("/v1.0/") {
            Dialect::EasyQueue
        } else if path.starts_with("/v2/databases") {
            Dialect::DigitalOcean
        } else if ["/topics", "/consumers", "/brokers"].iter().any(|root| {
            path.strip_prefix(root)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        }) {
            Dialect::ConfluentV2
        } else {
            Dialect::Native
        }
    }

    /// The status of a request body that breaks its schema in the document
    /// (`middleware::body_schema`): 400 for a body of the wrong shape; a
    /// rule broken by a well-shaped body (a length, a range, a pattern) is
    /// 422 where the dialect's own service says so (Confluent's REST Proxy,
    /// DigitalOcean), 400 elsewhere. EasyQueue's envelope carries either in
    /// its header, under HTTP 200.
    pub fn invalid_body_status(self, violation: Violation) -> StatusCode {
        match (self, violation) {
            (
                Dialect::Confluent | Dialect::ConfluentV2 | Dialect::DigitalOcean,
                Violation::Rule,
            ) => StatusCode::UNPROCESSABLE_ENTITY,
            _ => StatusCode::BAD_REQUEST,
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
            Dialect::Confluent | Dialect::ConfluentV2 => json!({
                // The REST Proxy's code for a rate limit is 42901.
                "error_code": if status == StatusCode::TOO_MANY_REQUESTS { 42901 } else { u32::from(status.as_u16()) },
                "message": message,
            }),
            Dialect::EasyQueue => json!({
                "header": {
                    "isSuccessful": false,
                    "resultCode": status.as_u16(),
                    "resultMessage": message,
                },
            }),
            Dialect::DigitalOcean => json!({
                "id": digitalocean_id(status),
                "message": match status {
                    // DigitalOcean's own words for these two.
                    StatusCode::UNAUTHORIZED => "Unable to authenticate you.",
                    StatusCode::TOO_MANY_REQUESTS => "API Rate limit exceeded.",
                    _ => message,
                },
                "request_id": request_id,
            }),
            Dialect::Native => json!({
                "type": "about:blank",
                "title": status.canonical_reason().unwrap_or("Error"),
                "status": status.as_u16(),
                "detail": message,
                "requestId": request_id,
            }),
        };
        let content_type = match self {
            Dialect::Native => "application/problem+json",
            Dialect::ConfluentV2 => KAFKA_V2_JSON,
            _ => "application/json",
        };
        // EasyQueue answers every call with 200 and says in the body's
        // header whether it succeeded.
        let status = if self == Dialect::EasyQueue {
            StatusCode::OK
        } else {
            status
        };
        Response::builder()
            .status(status)
            .content_type(content_type)
            .body(body.to_string())
    }
}

/// DigitalOcean's short error identifier for an HTTP status.
pub fn digitalocean_id(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "bad_request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        405 => "method_not_allowed",
        409 => "conflict",
        413 => "request_entity_too_large",
        415 => "unsupported_media_type",
        422 => "unprocessable_entity",
        429 => "too_many_requests",
        503 => "service_unavailable",
        _ if status.is_server_error() => "server_error",
        _ => "bad_request",
    }
}
