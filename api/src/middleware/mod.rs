//! Cross-cutting request handling, outermost first: request id, metrics,
//! authentication (in `auth`), audit, error envelopes, the body size limit.

pub mod audit;
pub mod body_limit;
pub mod error_envelope;
pub mod http_metrics;
pub mod request_id;
