//! Projects: tokens scoped to a team, grants per cluster and topic prefix,
//! and per-token rate limits, driven through every dialect against a real
//! tansu broker and MariaDB.
//!
//! - `matrix`: every operation of `/openapi.json`, called with project A's
//!   tokens on project B's resources and with A's VIEWER on A's mutations,
//!   is refused and changes nothing; an operation without a rule fails.
//! - `prefix`: a project on a shared cluster creates and sees only topics
//!   under its prefix, in TubeMQ, Confluent and the native API.
//! - `attacks`: the three ways a client token used to reach too far.
//! - `rate_limit`: 429 with `Retry-After` in each dialect's envelope.
//! - `session`: what `GET /api/v1/session` tells global and project tokens.

mod attacks;
mod helpers;
mod matrix;
mod prefix;
mod rate_limit;
mod session;
