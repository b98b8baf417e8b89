//! Cross-cutting request handling, outermost first: request id, metrics,
//! authentication (in `auth`), audit, error envelopes (in `dialect`).

pub mod audit;
pub mod http_metrics;
pub mod request_id;
