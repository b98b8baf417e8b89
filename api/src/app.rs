//! Assembles the HTTP application: routes of every dialect, Swagger UI, the
//! OpenAPI document and the middleware stack.

use poem::{
    Endpoint, EndpointExt, Route, get,
    middleware::{NormalizePath, TrailingSlash},
};
use poem_openapi::OpenApiService;

use crate::{
    auth,
    confluent::{self, ConfluentApis},
    middleware::{audit, body_limit, error_envelope, http_metrics, rate_limit, request_id},
    native::{
        audit::AuditApi, clusters::ClustersApi, projects::ProjectsApi, tasks::TasksApi,
        tokens::TokensApi,
    },
    ops,
    route_labels::RouteLabels,
    state::AppState,
    tiem::changefeeds::ChangefeedsApi,
    tubemq::{cluster::TubeClusterApi, task::TubeTaskApi, topic::TubeTopicApi},
};

type Apis = (
    TasksApi,
    ClustersApi,
    TokensApi,
    AuditApi,
    ProjectsApi,
    TubeClusterApi,
    TubeTaskApi,
    TubeTopicApi,
    ChangefeedsApi,
    ConfluentApis,
);

pub fn openapi() -> OpenApiService<Apis, ()> {
    OpenApiService::new(
        (
            TasksApi,
            ClustersApi,
            TokensApi,
            AuditApi,
            ProjectsApi,
            TubeClusterApi,
            TubeTaskApi,
            TubeTopicApi,
            ChangefeedsApi,
            confluent::apis(),
        ),
        "ferry",
        env!("CARGO_PKG_VERSION"),
    )
    .description("Durable, audited operations on Kafka clusters and replication pipelines.")
}

/// The route templates of the whole application, for metric labels.
pub fn route_labels() -> RouteLabels {
    RouteLabels::new(
        &openapi().spec(),
        &[
            "/healthz",
            "/readyz",
            "/metrics",
            "/openapi.json",
            "/docs/*",
        ],
    )
}

/// The whole application. Middleware, outermost first: shared state, request
/// id, HTTP metrics, authentication, audit, dialect error envelopes, the body
/// size limit; paths are normalised (trailing slash trimmed) before any of
/// them.
pub fn build(state: AppState) -> impl Endpoint {
    let api = openapi();
    let docs = api.swagger_ui();
    let spec = api.spec_endpoint();
    Route::new()
        .at("/healthz", get(ops::healthz))
        .at("/readyz", get(ops::readyz))
        .at("/metrics", get(ops::prometheus))
        .at("/openapi.json", spec)
        .nest("/docs", docs)
        .nest("/", api)
        .around(body_limit::limit)
        .around(error_envelope::render_errors)
        .around(audit::record)
        .around(rate_limit::limit)
        .around(auth::authenticate)
        .around(http_metrics::record)
        .around(request_id::assign)
        // TiEM's routes end in a slash (`/changefeeds/`, `/changefeeds/{id}/`)
        // while poem-openapi registers paths without one: both forms route.
        .with(NormalizePath::new(TrailingSlash::Trim))
        .data(state)
}
