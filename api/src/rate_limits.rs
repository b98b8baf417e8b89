//! Each valid token's request budget: a `governor` bucket per token, with
//! the settings' `rate_limit.per_second` and `rate_limit.burst` or the
//! token's own override, kept while the token is in use. The
//! `middleware::rate_limit` layer asks it before a call goes on.

use std::{num::NonZeroU32, sync::Arc, time::Duration};

use ferry_entity::Role;
use ferry_service::{access::Identity, settings::RateLimitSettings};
use governor::{Quota, RateLimiter, clock::Clock, clock::DefaultClock};

type Bucket = governor::DefaultDirectRateLimiter;

/// The buckets of the tokens seen lately.
pub struct RateLimits {
    settings: RateLimitSettings,
    buckets: moka::sync::Cache<String, Arc<Bucket>>,
}

/// A refusal: the limit that applied and how long to wait.
pub struct Exceeded {
    pub per_second: u32,
    pub burst: u32,
    pub wait: Duration,
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
    pub fn check(&self, identity: &Identity) -> Result<(), Exceeded> {
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
