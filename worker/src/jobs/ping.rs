//! `ping`: a task that does nothing, for tests and benchmarks. Its payload can
//! ask it to sleep, to fail retryably for its first attempts, or to fail
//! permanently, so the queue's behaviour can be observed end to end.

use std::time::Duration;

use ferry_entity::payload::PingPayload;
use serde_json::{Value, json};

use super::{JobContext, JobError};

pub async fn run(ctx: JobContext<'_>) -> Result<Value, JobError> {
    let payload: PingPayload = ctx.task.payload().map_err(JobError::payload)?;
    if payload.sleep_ms > 0 {
        tokio::time::sleep(Duration::from_millis(payload.sleep_ms)).await;
    }
    if let Some(message) = payload.fail_permanently {
        return Err(JobError::Permanent(message));
    }
    if ctx.task.attempts <= payload.fail_times {
        return Err(JobError::Retryable(format!(
            "ping asked to fail attempt {} of its first {}",
            ctx.task.attempts, payload.fail_times
        )));
    }
    Ok(json!({ "pong": true, "attempt": ctx.task.attempts }))
}
