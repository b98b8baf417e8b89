//! The route templates of the application (`/v3/clusters/{cluster_id}/topics`),
//! read from its OpenAPI document, and the template that serves a path: the
//! label of HTTP metrics, and the methods a 405 answer lists in `Allow`.

use std::collections::BTreeMap;

/// The label of every path no route serves.
pub const UNMATCHED: &str = "unmatched";

/// The application's route templates, most specific first.
#[derive(Debug, Default)]
pub struct RouteLabels {
    templates: Vec<(String, Vec<Option<String>>)>,
    /// The methods the document declares for each template (by label).
    methods: BTreeMap<String, Vec<String>>,
}

impl RouteLabels {
    /// The templates of an OpenAPI document's `paths`, and `fixed` routes
    /// served outside it (a `fixed` route that ends in `/*` covers its
    /// subpaths).
    pub fn new(openapi_json: &str, fixed: &[&str]) -> RouteLabels {
        let spec: serde_json::Value = serde_json::from_str(openapi_json).unwrap_or_default();
        let mut methods: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (template, item) in spec["paths"].as_object().into_iter().flatten() {
            let declared = methods.entry(label_of(template).to_owned()).or_default();
            for method in item.as_object().into_iter().flat_map(|m| m.keys()) {
                let method = method.to_uppercase();
                if !declared.contains(&method) {
                    declared.push(method);
                }
            }
        }
        let mut templates: Vec<(String, Vec<Option<String>>)> = spec["paths"]
            .as_object()
            .into_iter()
            .flat_map(|paths| paths.keys())
            .map(String::as_str)
            .chain(fixed.iter().copied())
            .map(|template| {
                let segments = segments(template)
                    .map(|s| {
                        let param = (s.starts_with('{') && s.ends_with('}')) || s == "*";
                        (!param).then(|| s.to_owned())
                    })
                    .collect();
                (label_of(template).to_owned(), segments)
            })
            .collect();
        // More literal segments first: `/v1/x/{id}` loses to `/v1/x/new`.
        templates.sort_by_key(|(_, segs)| std::cmp::Reverse(segs.iter().flatten().count()));
        RouteLabels { templates, methods }
    }

    /// The methods the document declares for the route that serves `path`
    /// (none for a route outside it), for the `Allow` header of a 405.
    pub fn methods(&self, path: &str) -> &[String] {
        self.methods
            .get(self.label(path))
            .map_or(&[], Vec::as_slice)
    }

    /// The template that serves `path`, or [`UNMATCHED`].
    pub fn label(&self, path: &str) -> &str {
        let parts: Vec<&str> = segments(path).collect();
        self.templates
            .iter()
            .find(|(template, segs)| {
                let wildcard = template.ends_with("/*");
                let fits = if wildcard {
                    parts.len() >= segs.len()
                } else {
                    parts.len() == segs.len()
                };
                fits && segs
                    .iter()
                    .zip(&parts)
                    .all(|(seg, part)| seg.as_deref().is_none_or(|lit| lit == *part))
            })
            .map_or(UNMATCHED, |(template, _)| template.as_str())
    }
}

/// The trailing slash of a route is trimmed before routing.
pub(crate) fn label_of(template: &str) -> &str {
    match template.trim_end_matches('/') {
        "" => "/",
        trimmed => trimmed,
    }
}

fn segments(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_get_their_route_template() {
        let spec = r#"{"paths": {
            "/api/v1/tasks/{id}/cancel": {"post": {}},
            "/api/v1/tasks/{id}": {"get": {}, "delete": {}},
            "/v3/clusters/{cluster_id}/broker-configs": {},
            "/v3/clusters/{cluster_id}/{anything}": {}
        }}"#;
        let labels = RouteLabels::new(spec, &["/healthz", "/docs/*"]);
        assert_eq!(
            labels.label("/api/v1/tasks/0192f0c4-7c1e/cancel"),
            "/api/v1/tasks/{id}/cancel"
        );
        assert_eq!(labels.label("/api/v1/tasks/12"), "/api/v1/tasks/{id}");
        assert_eq!(
            labels.label("/v3/clusters/1/broker-configs"),
            "/v3/clusters/{cluster_id}/broker-configs"
        );
        assert_eq!(labels.label("/healthz"), "/healthz");
        assert_eq!(labels.label("/docs/index.css"), "/docs/*");
        assert_eq!(labels.label("/random/x/y"), UNMATCHED);
        assert_eq!(labels.label("/api/v1/tasks/1/2/3"), UNMATCHED);
        assert_eq!(labels.methods("/api/v1/tasks/12"), ["DELETE", "GET"]);
        assert_eq!(labels.methods("/api/v1/tasks/12/cancel"), ["POST"]);
        assert!(labels.methods("/healthz").is_empty());
    }
}
