//! Requests per token: a token bucket per valid token (`governor`), with
//! the settings' `rate_limit.per_second` and `rate_limit.burst` or the
//! token's own override. Over the limit a call gets 429 with `Retry-After`
//! in its dialect's envelope, before its body is read or its audit row
//! written. Only authenticated calls reach a bucket, so the limiter's state
//! is bounded by the number of valid tokens, not by what callers send.

use poem::{
    Endpoint, IntoResponse, Request, Response,
    http::{HeaderValue, StatusCode, header::RETRY_AFTER},
};

use ferry_service::access::Identity;

use crate::{dialect::Dialect, middleware::request_id::RequestId, state::AppState};

pub async fn limit<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
    let refused = match (req.extensions().get::<Identity>(), req.data::<AppState>()) {
        (Some(identity), Some(state)) => state.limits.check(identity).err(),
        _ => None,
    };
    let Some(exceeded) = refused else {
        return next.call(req).await.map(IntoResponse::into_response);
    };
    let dialect = Dialect::of_path(req.uri().path());
    metrics::counter!("ferry_http_rate_limited_total", "dialect" => dialect.as_str()).increment(1);
    // Whole seconds, rounded up: a client that waits this long gets through.
    let seconds = exceeded.wait.as_secs() + u64::from(exceeded.wait.subsec_nanos() > 0);
    let seconds = seconds.max(1);
    let request_id = req
        .extensions()
        .get::<RequestId>()
        .map(|r| r.0.as_str())
        .unwrap_or_default();
    let mut response = dialect.error(
        StatusCode::TOO_MANY_REQUESTS,
        &format!(
            "rate limit exceeded: {} requests per second with bursts of {}; retry after {seconds} s",
            exceeded.per_second, exceeded.burst
        ),
        request_id,
    );
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(seconds));
    Ok(response)
}
