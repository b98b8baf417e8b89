//! Requests per token: a token bucket per valid token (`governor`), with
//! the settings' `rate_limit.per_second` and `rate_limit.burst` or the
//! token's own override. Over the limit a call gets 429 with `Retry-After`
//! in its dialect's envelope, before its body is read or its audit row
//! written. Only authenticated calls reach a bucket, so the limiter's state
//! is bounded by the number of valid tokens, not by what callers send.

use std::{num::NonZeroU32, sync::Arc, time::Duration};

use ferry_entity::Role;
use ferry_service::settings::RateLimitSettings;
use governor::{Quota, RateLimiter, clock::Clock, clock::DefaultClock};
use poem::{
    Endpoint, IntoResponse, Request, Response,
    http::{HeaderValue, StatusCode, header::RETRY_AFTER},
};

use ferry_service::access::Identity;

use crate::{dialect::Dialect, middleware::request_id::RequestId, state::AppState};

type Bucket = governor::DefaultDirectRateLimiter;

/// The buckets of the tokens seen lately.
pub struct RateLimits {
    settings: RateLimitSettings,
    buckets: moka::sync::Cache<String, Arc<Bucket>>,
}

/// A refusal: the limit that applied and how long to wait.
struct Exceeded {
    per_second: u32,
    burst: u32,
    wait: Duration,
}

/// A bucket left idle this long is full again anyway (bursts are at most
/// this many seconds of the rate), so dropping it forgets nothing.
const IDLE: Duration = Duration::from_secs(600);

impl RateLimits {
    pub fn new(settings: RateLimitSettings) -> Self {
        Self {
            settings,
            buckets: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_idle(IDLE)
                .build(),
        }
    }

    /// Takes one request from the caller's bucket.
    fn check(&self, identity: &Identity) -> Result<(), Exceeded> {
        let unlimited_admin = identity.is_global()
            && identity.role == Role::Admin
            && !self.settings.global_admins
            && identity.rate.is_none();
        if unlimited_admin {
            return Ok(());
        }
        let (per_second, burst) = identity
            .rate
            .map_or((self.settings.per_second, self.settings.burst), |r| {
                (r.per_second, r.burst)
            });
        // A rate of zero turns the limit off.
        let Some(rate) = NonZeroU32::new(per_second) else {
            return Ok(());
        };
        let burst_nz = NonZeroU32::new(burst).unwrap_or(rate);
        let bucket = match self.buckets.get(&identity.token_id) {
            Some(bucket) => bucket,
            None => {
                let bucket = Arc::new(RateLimiter::direct(
                    Quota::per_second(rate).allow_burst(burst_nz),
                ));
                self.buckets
                    .insert(identity.token_id.clone(), Arc::clone(&bucket));
                // A token's first request only: the count shows that the
                // buckets follow the valid tokens, whatever else is sent.
                self.buckets.run_pending_tasks();
                metrics::gauge!("ferry_rate_limit_buckets").set(self.buckets.entry_count() as f64);
                bucket
            }
        };
        bucket.check().map_err(|not_until| Exceeded {
            per_second,
            burst,
            wait: not_until.wait_time_from(DefaultClock::default().now()),
        })
    }
}

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
