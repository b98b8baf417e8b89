//! What every request handler can reach.

use std::sync::Arc;

use ferry_entity::ClusterId;
use ferry_service::{
    clusters::ClusterView, consumers::Consumers, kafka::KafkaClients, settings::Settings,
    store::Store, tokens::TokenCache,
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
    /// The registered Kafka clusters, which every REST Proxy v2 call reads
    /// to choose its cluster: kept `API_REGISTRY_RECHECK` (a change through
    /// another process shows within it), dropped at once by this process's
    /// own changes (`clusters_changed`).
    pub kafka_clusters: moka::sync::Cache<(), Arc<Vec<ClusterView>>>,
}

impl AppState {
    /// What this process must forget when it registers, changes or removes
    /// a cluster.
    pub fn clusters_changed(&self, id: Option<ClusterId>) {
        if let Some(id) = id {
            self.kafka.forget(id);
        }
        self.kafka_clusters.invalidate_all();
    }
}
