//! Framework errors (bad JSON, wrong types, 401, an unknown route, a method
//! the route does not have, 413, 415) in the envelope of the dialect the
//! path belongs to (`dialect.rs`); a 405 lists the route's methods in
//! `Allow`.

use poem::{
    Endpoint, IntoResponse, Request, Response,
    http::{HeaderValue, StatusCode, header},
};

use crate::{dialect::Dialect, middleware::request_id::RequestId, state::AppState};

/// Renders framework errors in the dialect of the request's path. Responses
/// that handlers built themselves (already JSON) pass through untouched.
pub async fn render_errors<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
    let dialect = Dialect::of_path(req.uri().path());
    // A 405 names the methods the route has (RFC 9110, `Allow`).
    let allow = req
        .data::<AppState>()
        .map(|state| state.routes.methods(req.uri().path()).join(", "))
        .filter(|methods| !methods.is_empty());
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
    let mut resp = dialect.error(status, &message, &request_id);
    if let (StatusCode::METHOD_NOT_ALLOWED, Some(allow)) = (status, allow)
        && let Ok(value) = HeaderValue::from_str(&allow)
    {
        resp.headers_mut().insert(header::ALLOW, value);
    }
    Ok(resp)
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
