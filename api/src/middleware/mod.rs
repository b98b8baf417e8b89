//! Cross-cutting request handling, outermost first: request id, metrics,
//! authentication (in `auth`), the rate limit, audit, error envelopes, the
//! body size limit, the body's schema.

pub mod audit;
pub mod body_limit;
pub mod body_schema;
pub mod error_envelope;
pub mod http_metrics;
pub mod kafka_accept;
pub mod rate_limit;
pub mod request_id;
