//! Middleware (`app.rs` places it inside the body size limit): sends a call
//! on a REST Proxy v2 consumer instance
//! (`/consumers/{group}/instances/{instance}[/...]`) to the `ferry-api`
//! process that holds the instance, and answers with what that process
//! answered: a client may reach any process (`ferry_service::consumers`).
//!
//! A call is forwarded once at most: it carries the owner id it was sent to
//! (`FORWARDED_TO`), and a process that receives such a call serves it
//! itself, taking the instance over when it does not hold it (the owner
//! restarted at the same address). When the owner cannot be reached at all,
//! this process takes the instance over too. Everything else (an instance
//! held here, held by nobody, or not found) goes on to the handler.

use std::time::Duration;

use ferry_service::consumers::{FORWARDED_TO, Key, Location};
use poem::{
    Body, Endpoint, IntoResponse, Request, Response,
    http::{HeaderName, StatusCode, header},
};

use ferry_service::tokens::Identity;

use crate::{confluent::v2::choose_cluster, state::AppState};

/// How long a forwarded call may take beyond its own wait for records.
const FORWARD_MARGIN: Duration = Duration::from_secs(30);

/// Headers that belong to one connection, never passed on.
const HOP_BY_HOP: [HeaderName; 4] = [
    header::HOST,
    header::CONNECTION,
    header::CONTENT_LENGTH,
    header::TRANSFER_ENCODING,
];

/// The group and instance a path names, percent-decoded as the handlers
/// see them.
fn instance_of(path: &str) -> Option<(String, String)> {
    let mut parts = path.strip_prefix("/consumers/")?.split('/');
    let group = parts.next()?;
    if parts.next()? != "instances" {
        return None;
    }
    let name = parts.next()?;
    let decode = |raw: &str| {
        percent_encoding::percent_decode_str(raw)
            .decode_utf8()
            .ok()
            .map(|s| s.into_owned())
    };
    Some((decode(group)?, decode(name)?))
}

pub async fn route<E: Endpoint>(next: E, mut req: Request) -> poem::Result<Response> {
    let Some((group, name)) = instance_of(req.uri().path()) else {
        return pass(&next, req).await;
    };
    if req.headers().contains_key(FORWARDED_TO) {
        return pass(&next, req).await;
    }
    let (Some(state), Some(identity)) = (
        req.data::<AppState>().cloned(),
        req.extensions().get::<Identity>().cloned(),
    ) else {
        return pass(&next, req).await;
    };
    // A cluster that cannot be chosen, or a store that fails, is the
    // handler's to report in the dialect's words.
    let Ok(cluster) = choose_cluster(&state, &identity).await else {
        return pass(&next, req).await;
    };
    let key = Key {
        cluster,
        group,
        name,
    };
    let Ok(Location::Remote { owner, url }) = state.consumers.locate(&state.store, &key).await
    else {
        return pass(&next, req).await;
    };
    let body = req.take_body().into_bytes().await?;
    match forward(&state, &req, body.clone(), &owner, &url).await {
        Ok(resp) => Ok(resp),
        Err(err) => {
            tracing::warn!(%err, %owner, %url, "the owner of a consumer instance is unreachable; taking it over");
            req.set_body(body);
            req.headers_mut().insert(
                FORWARDED_TO,
                owner.parse().expect("an owner id is a header value"),
            );
            pass(&next, req).await
        }
    }
}

async fn pass<E: Endpoint>(next: &E, req: Request) -> poem::Result<Response> {
    next.call(req).await.map(IntoResponse::into_response)
}

/// The call as the owner answers it; an error when the owner cannot be
/// reached (a refused or timed-out connection).
async fn forward(
    state: &AppState,
    req: &Request,
    body: bytes::Bytes,
    owner: &str,
    url: &str,
) -> Result<Response, reqwest::Error> {
    let target = format!(
        "{url}{}",
        req.uri().path_and_query().map_or("", |p| p.as_str())
    );
    let wait = Duration::from_millis(state.settings.confluent.consumer_request_timeout_ms);
    let mut call = state
        .http
        .request(req.method().clone(), target)
        .timeout(wait + FORWARD_MARGIN)
        .header(FORWARDED_TO, owner)
        .body(body);
    for (name, value) in req.headers() {
        if !HOP_BY_HOP.contains(name) {
            call = call.header(name, value);
        }
    }
    let answer = call.send().await?;
    let status = StatusCode::from_u16(answer.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut resp = Response::builder().status(status);
    for (name, value) in answer.headers() {
        if !HOP_BY_HOP.contains(name) {
            resp = resp.header(name.clone(), value.clone());
        }
    }
    let bytes = answer.bytes().await?;
    metrics::counter!("ferry_consumer_calls_forwarded_total").increment(1);
    Ok(resp.body(Body::from(bytes)))
}

#[cfg(test)]
mod tests {
    use super::instance_of;

    #[test]
    fn instance_paths_name_their_group_and_instance() {
        assert_eq!(
            instance_of("/consumers/g/instances/i/records"),
            Some(("g".into(), "i".into()))
        );
        assert_eq!(
            instance_of("/consumers/my%20group/instances/a%2Fb"),
            Some(("my group".into(), "a/b".into()))
        );
        assert_eq!(instance_of("/consumers/g"), None);
        assert_eq!(instance_of("/consumers/g/other/i"), None);
        assert_eq!(instance_of("/topics/t"), None);
    }
}
