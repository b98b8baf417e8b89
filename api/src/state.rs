//! What every request handler can reach.

use std::sync::Arc;

use ferry_service::{
    consumers::Consumers, kafka::KafkaClients, settings::Settings, store::Store, tokens::TokenCache,
};
use metrics_exporter_prometheus::PrometheusHandle;

use crate::{body_schemas::BodySchemas, rate_limits::RateLimits, route_labels::RouteLabels};

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    /// Kafka clients of registered clusters, built on first use: the API's
    /// reads (the worker has clients of its own for its changes).
    pub kafka: KafkaClients,
    pub settings: Arc<Settings>,
    pub metrics: PrometheusHandle,
    /// The route templates that label HTTP metrics.
    pub routes: Arc<RouteLabels>,
    /// Every operation's request-body schema, checked before its handler.
    pub bodies: Arc<BodySchemas>,
    /// Recently validated bearer tokens.
    pub tokens: Arc<TokenCache>,
    /// Each token's request budget.
    pub limits: Arc<RateLimits>,
    /// The REST Proxy v2 consumer instances this process holds.
    pub consumers: Arc<Consumers>,
    /// Calls forwarded to other `ferry-api` processes.
    pub http: reqwest::Client,
}
