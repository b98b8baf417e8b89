//! What every request handler can reach.

use std::sync::Arc;

use ferry_worker::{settings::Settings, store::Store};
use metrics_exporter_prometheus::PrometheusHandle;

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub settings: Arc<Settings>,
    pub metrics: PrometheusHandle,
    /// Recently validated bearer tokens.
    pub tokens: Arc<crate::auth::TokenCache>,
}
