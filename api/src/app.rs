//! Assembles the HTTP application: routes of every dialect, Swagger UI, the
//! OpenAPI document and the middleware stack.

use poem::{
    Endpoint, EndpointExt, Route, get,
    middleware::{NormalizePath, TrailingSlash},
};
use poem_openapi::OpenApiService;

use crate::{
    auth,
    confluent::{self, ConfluentApis, v2::consumers::forward},
    console,
    digitalocean::topics::DigitalOceanTopicsApi,
    easyqueue::{
        details::EasyQueueDetailsApi, statistics::EasyQueueStatisticsApi,
        topics::EasyQueueTopicsApi,
    },
    middleware::{
        audit, body_limit, body_schema, error_envelope, http_metrics, kafka_accept, rate_limit,
        request_id,
    },
    native::{
        audit::AuditApi, changesets::ChangesetsApi, clusters::ClustersApi, projects::ProjectsApi,
        reassignments::ReassignmentsApi, session::SessionApi, statistics::StatisticsApi,
        tasks::TasksApi, tokens::TokensApi,
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
    ReassignmentsApi,
    StatisticsApi,
    // poem-openapi implements its trait for tuples of up to 16: the caller's
    // own session sits with the tokens it describes.
    (TokensApi, SessionApi),
    (AuditApi, ChangesetsApi),
    ProjectsApi,
    TubeClusterApi,
    TubeTaskApi,
    TubeTopicApi,
    ChangefeedsApi,
    ConfluentApis,
    DigitalOceanTopicsApi,
    EasyQueueTopicsApi,
    EasyQueueDetailsApi,
    EasyQueueStatisticsApi,
);

pub fn openapi() -> OpenApiService<Apis, ()> {
    OpenApiService::new(
        (
            TasksApi,
            ClustersApi,
            ReassignmentsApi,
            StatisticsApi,
            (TokensApi, SessionApi),
            (AuditApi, ChangesetsApi),
            ProjectsApi,
            TubeClusterApi,
            TubeTaskApi,
            TubeTopicApi,
            ChangefeedsApi,
            confluent::apis(),
            DigitalOceanTopicsApi,
            EasyQueueTopicsApi,
            EasyQueueDetailsApi,
            EasyQueueStatisticsApi,
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
            "/",
            "/console/*",
        ],
    )
}

/// The whole application: the web console at `/` and `/console/*`, Swagger
/// UI, the document and every dialect's routes. Middleware, outermost first:
/// shared state, request
/// id, HTTP metrics, REST Proxy v2's content negotiation, authentication, the
/// rate limit, audit, dialect error envelopes, the body
/// size limit, forwarding of v2 consumer calls to their instance's process
/// (`confluent::v2::consumers::forward`, after the size limit so that it never reads more
/// than `api.max_body_bytes`), the body's schema (`body_schema`, after the size limit so
/// that it never reads more than `api.max_body_bytes`), and the console's page at
/// `/` (`console::page_at_root`); paths are normalised
/// (trailing slash trimmed) before any of them.
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
        .at("/console/:name", get(console::file))
        .nest("/", api)
        // `/` itself: the dialects nested at the root would take it.
        .around(console::page_at_root)
        .around(body_schema::validate)
        .around(forward::route)
        .around(body_limit::limit)
        .around(error_envelope::render_errors)
        .around(audit::record)
        // Each `around` names the endpoint it wraps twice in its type, so the
        // type doubles with every layer; boxing here keeps it within the
        // compiler's recursion limit at the cost of one dynamic call.
        .boxed()
        .around(rate_limit::limit)
        .around(auth::authenticate)
        .around(kafka_accept::negotiate)
        .around(http_metrics::record)
        .around(request_id::assign)
        // TiEM's routes end in a slash (`/changefeeds/`, `/changefeeds/{id}/`)
        // while poem-openapi registers paths without one: both forms route.
        .with(NormalizePath::new(TrailingSlash::Trim))
        .data(state)
}

/// The rules every operation of the document keeps, so that schemathesis
/// (`tests/tests/contract`) finds the document true. They fail here, with
/// the operation or field named, before the slower black-box run.
#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::openapi;
    use crate::edge::{MAX_PAGE, MAX_PAGE_SIZE};

    /// What the middleware may answer on any operation before its handler
    /// runs: a request that does not parse, no valid token, a role that may
    /// not, a body too large, a rate limit, a store that is down; and for
    /// an operation with a body, a body that is not JSON. Each dialect's
    /// error type declares them.
    const EDGE_STATUSES: [&str; 6] = ["400", "401", "403", "413", "429", "503"];
    const BODY_STATUSES: [&str; 1] = ["415"];

    fn document() -> Value {
        serde_json::from_str(&openapi().spec()).expect("the document is JSON")
    }

    fn operations(doc: &Value) -> Vec<(String, &Value)> {
        let mut all = Vec::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, op) in item.as_object().expect("a path item") {
                all.push((format!("{} {path}", method.to_uppercase()), op));
            }
        }
        all
    }

    #[test]
    fn every_operation_declares_what_the_middleware_answers() {
        let doc = document();
        for (name, op) in operations(&doc) {
            // EasyQueue answers every call with HTTP 200 and says in the
            // body's header how it went, the middleware's refusals included.
            if name.contains(" /v1.0/") {
                continue;
            }
            let responses = op["responses"].as_object().expect("responses");
            let body = op.get("requestBody").is_some();
            let statuses = EDGE_STATUSES
                .iter()
                .chain(BODY_STATUSES.iter().filter(|_| body));
            for status in statuses {
                assert!(
                    responses.contains_key(*status),
                    "{name} does not declare {status}: its error type must list it"
                );
            }
        }
    }

    /// A body that breaks its schema is refused by `body_schema` with the
    /// dialect's status for it (400, or 422 for a broken rule in Confluent
    /// and DigitalOcean); every operation with a body declares both.
    #[test]
    fn every_operation_with_a_body_declares_its_refusals() {
        use crate::{body_schemas::Violation, dialect::Dialect};

        let doc = document();
        for (name, op) in operations(&doc) {
            let path = name.split_once(' ').map_or("", |(_, path)| path);
            let dialect = Dialect::of_path(path);
            if op.get("requestBody").is_none() || dialect == Dialect::EasyQueue {
                continue;
            }
            for violation in [Violation::Shape, Violation::Rule] {
                let status = dialect.invalid_body_status(violation);
                assert!(
                    op["responses"].get(status.as_str()).is_some(),
                    "{name} does not declare {status}, its answer to a body that breaks \
                     its schema"
                );
            }
        }
    }

    #[test]
    fn every_optional_field_is_nullable() {
        let doc = document();
        let schemas = doc["components"]["schemas"].as_object().expect("schemas");
        for (name, schema) in schemas {
            let required: Vec<&str> = schema["required"]
                .as_array()
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let Some(properties) = schema["properties"].as_object() else {
                continue;
            };
            for (field, property) in properties {
                assert!(
                    required.contains(&field.as_str()) || property["nullable"] == true,
                    "{name}.{field} is optional but not nullable: ferry sends and accepts \
                     null for it; mark it #[oai(nullable)]"
                );
            }
        }
    }

    /// The task list's `kind` filter is a pattern in the document; a new
    /// task kind must be added to it, or filtering by it would be refused.
    #[test]
    fn the_kind_filter_names_every_task_kind() {
        use ferry_entity::TaskKind;
        use sea_orm::Iterable;

        let doc = document();
        let pattern = doc["paths"]["/api/v1/tasks"]["get"]["parameters"]
            .as_array()
            .expect("parameters")
            .iter()
            .find(|p| p["name"] == "kind")
            .and_then(|p| p["schema"]["pattern"].as_str())
            .expect("the kind filter declares a pattern");
        let pattern = regex::Regex::new(pattern).expect("the pattern compiles");
        for kind in TaskKind::iter() {
            assert!(
                pattern.is_match(kind.as_str()),
                "task kind {} is missing from the kind filter's pattern",
                kind.as_str()
            );
        }
    }

    #[test]
    fn paging_limits_are_declared() {
        let doc = document();
        let mut seen = 0;
        for (name, op) in operations(&doc) {
            // EasyQueue's paging is its seed's (`page` from 1, `limit`),
            // declared on its route.
            if name.contains(" /v1.0/") {
                continue;
            }
            for param in op["parameters"].as_array().into_iter().flatten() {
                let (min, max) = match param["name"].as_str() {
                    Some("pageSize") => (1, MAX_PAGE_SIZE),
                    Some("page") => (0, MAX_PAGE),
                    _ => continue,
                };
                seen += 1;
                let schema = &param["schema"];
                assert_eq!(schema["maximum"].as_f64(), Some(max as f64), "{name}");
                assert_eq!(schema["minimum"].as_f64(), Some(f64::from(min)), "{name}");
            }
        }
        assert!(seen >= 6, "the lists declare page and pageSize");
    }
}
