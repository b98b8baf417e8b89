//! A JSON request body is checked against its operation's schema in the
//! OpenAPI document (`body_schemas`) before the handler runs, so that what
//! the document forbids is refused, in the route's dialect, with the field
//! named, and what it allows reaches the handler. Without it poem-openapi
//! would read a number sent for a string field as its text, and handlers
//! would repeat the document's rules in words of their own.
//!
//! Only callers with a valid token get this far with a body checked: a
//! request without one is answered 401 by its handler first, so that an
//! anonymous caller learns nothing about the schemas. A YAML body (the
//! changesets' documents) is read into a JSON value, as poem-openapi's
//! `Yaml` payload reads it, and checked against the same schema: YAML's untyped
//! scalars would otherwise pass where JSON's are refused (`false` for a
//! string). A body that is neither, or does not parse, passes untouched to
//! poem-openapi, which answers 400 or 415.

use ferry_service::access::Identity;
use poem::{Endpoint, Error, IntoResponse, Request, Response, http::StatusCode};

use crate::{
    body_schemas::{self, BodyViolation},
    dialect::{Dialect, STREAMED_ROUTES},
    state::AppState,
};

pub async fn validate<E: Endpoint>(next: E, mut req: Request) -> poem::Result<Response> {
    let Some(state) = req.data::<AppState>().cloned() else {
        return next.call(req).await.map(IntoResponse::into_response);
    };
    let template = state.routes.label(req.uri().path());
    // A stream of records is checked record by record by its handler
    // (`confluent::records`): reading it whole here would hold every
    // report back until the client ends the stream.
    let format = body_format(&req);
    let checked = req.extensions().get::<Identity>().is_some()
        && format.is_some()
        && !STREAMED_ROUTES.contains(&template);
    let Some(validator) = state
        .bodies
        .validator(req.method(), template)
        .filter(|_| checked)
    else {
        return next.call(req).await.map(IntoResponse::into_response);
    };
    let bytes = req.take_body().into_bytes().await.map_err(|e| {
        Error::from_string(
            format!("the request body could not be read: {e}"),
            StatusCode::BAD_REQUEST,
        )
    })?;
    // A body that does not parse is poem-openapi's to refuse, in its words.
    let body = match format {
        Some(BodyFormat::Yaml) => {
            use poem::FromRequest;
            let mut body = poem::RequestBody::new(poem::Body::from(bytes.clone()));
            poem::web::Yaml::<serde_json::Value>::from_request(&req, &mut body)
                .await
                .ok()
                .map(|yaml| yaml.0)
        }
        _ => serde_json::from_slice::<serde_json::Value>(&bytes).ok(),
    };
    if let Some(body) = body
        && let Some(violation) = body_schemas::check(validator, &body)
    {
        return Err(refusal(Dialect::of_path(req.uri().path()), violation));
    }
    req.set_body(bytes);
    next.call(req).await.map(IntoResponse::into_response)
}

/// The refusal, rendered in the dialect's envelope by `error_envelope`.
fn refusal(dialect: Dialect, violation: BodyViolation) -> Error {
    Error::from_string(
        violation.message,
        dialect.invalid_body_status(violation.violation),
    )
}

/// The two body formats whose bodies are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyFormat {
    Json,
    Yaml,
}

/// Whether the request says its body is JSON (`application/json` or a
/// `+json` type, as poem-openapi's `Json` payload accepts; REST Proxy v2
/// also reads JSON sent as `application/octet-stream`) or YAML
/// (`application/yaml`, as its `Yaml` payload accepts).
fn body_format(req: &Request) -> Option<BodyFormat> {
    let essence = req
        .content_type()?
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
        || (essence == "application/octet-stream"
            && Dialect::of_path(req.uri().path()) == Dialect::ConfluentV2)
    {
        Some(BodyFormat::Json)
    } else if essence == "application/yaml" {
        Some(BodyFormat::Yaml)
    } else {
        None
    }
}
