//! Waiting for asynchronous outcomes with a deadline instead of fixed sleeps,
//! so that tests are fast on an idle machine and still pass on a busy one.

use std::{
    fmt::Debug,
    future::Future,
    time::{Duration, Instant},
};

/// How often conditions are re-checked.
pub const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Calls `check` until it returns `Ok`, or panics after `timeout` with `what`
/// and the last `Err` value, which should describe the state seen last.
pub async fn eventually<T, E, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    E: Debug,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        match check().await {
            Ok(value) => return value,
            Err(last) => {
                assert!(
                    Instant::now() < deadline,
                    "timed out after {timeout:?} waiting for {what}; last seen: {last:#?}"
                );
            }
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}
