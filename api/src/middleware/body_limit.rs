//! A request body larger than `api.max_body_bytes` is refused with 413 before
//! anything reads it: by its `Content-Length`, or, for a chunked body, as soon
//! as the bytes read pass the limit (the read then fails, which the handler's
//! parsing answers as a bad request). Without it a caller with any token, or
//! none, could make ferry read and parse bodies of any size. A chunked stream
//! of records (`confluent::records`) is limited per record by its handler,
//! not in total: such a stream may stay open for as long as its client
//! produces.

use futures::StreamExt;
use poem::{Body, Endpoint, Error, IntoResponse, Request, Response, http::StatusCode};

use crate::{dialect::STREAMED_ROUTES, state::AppState};

pub async fn limit<E: Endpoint>(next: E, mut req: Request) -> poem::Result<Response> {
    let Some(state) = req.data::<AppState>().cloned() else {
        return next.call(req).await.map(IntoResponse::into_response);
    };
    let max = state.settings.api.max_body_bytes;
    let declared = req
        .headers()
        .get(poem::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    match declared {
        Some(length) if length > max => {
            drain(req.take_body()).await;
            return Err(too_large(max));
        }
        Some(_) => {}
        None if STREAMED_ROUTES.contains(&state.routes.label(req.uri().path())) => {}
        None => {
            let mut seen = 0u64;
            let stream = req.take_body().into_bytes_stream().map(move |chunk| {
                let chunk = chunk?;
                seen += chunk.len() as u64;
                if seen > max {
                    return Err(std::io::Error::other(format!(
                        "the request body is larger than {max} bytes"
                    )));
                }
                Ok(chunk)
            });
            req.set_body(Body::from_bytes_stream(stream));
        }
    }
    next.call(req).await.map(IntoResponse::into_response)
}

/// Most bytes of a refused body read and thrown away before answering: a
/// client still sending when the answer comes often reads a reset
/// connection instead of the 413. Beyond it the connection is closed.
const DRAIN_LIMIT: u64 = 16 * 1024 * 1024;

/// Reads and discards a refused body, up to [`DRAIN_LIMIT`]: nothing is kept
/// or parsed.
async fn drain(body: Body) {
    let mut stream = body.into_bytes_stream();
    let mut drained = 0u64;
    while let Some(Ok(chunk)) = stream.next().await {
        drained += chunk.len() as u64;
        if drained > DRAIN_LIMIT {
            break;
        }
    }
}

fn too_large(max: u64) -> Error {
    Error::from_string(
        format!("the request body is larger than the {max} bytes ferry accepts"),
        StatusCode::PAYLOAD_TOO_LARGE,
    )
}
