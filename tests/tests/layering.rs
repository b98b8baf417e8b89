//! The invariants that the crate boundaries hold (docs/ARCHITECTURE.md,
//! "Invariants"), checked on the manifests and sources themselves so that a
//! change that breaks one fails here rather than in review:
//!
//! - dependencies point one way: `entity` <- `service` <- {`worker`, `api`}
//!   <- `server`; `api` depends on neither `ferry-worker` nor rdkafka, so the
//!   API cannot change a cluster; `entity` does no I/O;
//! - no crate has an import cycle between its top-level modules.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the workspace")
        .to_path_buf()
}

/// The names of a crate's normal (non-dev) dependencies.
fn dependencies(krate: &str) -> BTreeSet<String> {
    let path = workspace().join(krate).join("Cargo.toml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let manifest: toml::Table = text.parse().expect("a valid manifest");
    manifest
        .get("dependencies")
        .and_then(|d| d.as_table())
        .map(|d| d.keys().cloned().collect())
        .unwrap_or_default()
}

fn assert_lacks(krate: &str, forbidden: &[&str], why: &str) {
    let deps = dependencies(krate);
    let found: Vec<&&str> = forbidden.iter().filter(|f| deps.contains(**f)).collect();
    assert!(found.is_empty(), "{krate} depends on {found:?}: {why}");
}

#[test]
fn dependencies_point_one_way() {
    assert_lacks(
        "entity",
        &[
            "tokio",
            "sqlx",
            "rdkafka",
            "reqwest",
            "ferry-service",
            "ferry-migration",
        ],
        "entity holds stored types only and does no I/O",
    );
    assert_lacks(
        "service",
        &["poem", "poem-openapi", "ferry-worker", "ferry-api"],
        "the service crate has no HTTP and no job code",
    );
    assert_lacks(
        "api",
        &["ferry-worker", "rdkafka", "mysql_async", "apalis"],
        "only the worker changes a cluster; the API records tasks and reads through ferry-service",
    );
    assert_lacks(
        "worker",
        &["poem", "poem-openapi", "ferry-api"],
        "the worker has no HTTP",
    );
    assert_lacks(
        "cli",
        &[
            "ferry-entity",
            "ferry-service",
            "ferry-api",
            "ferry-worker",
            "sqlx",
            "rdkafka",
        ],
        "the command line is a client of the HTTP API only: it can do no more than its token",
    );
    let server = dependencies("server");
    assert!(
        server.contains("ferry-api") && server.contains("ferry-worker"),
        "server composes the API and the worker: {server:?}"
    );
}

/// Top-level modules of a crate and the top-level modules each refers to
/// through `crate::`.
fn module_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let direct = regex::Regex::new(r"crate::([a-z_][a-z0-9_]*)").expect("a valid pattern");
    let group = regex::Regex::new(r"use crate::\{").expect("a valid pattern");
    let tests = regex::Regex::new(r"(?s)#\[cfg\(test\)\]\s*mod tests\s*\{.*").expect("a pattern");
    // Doc links name paths without importing them.
    let comments = regex::Regex::new(r"(?m)^\s*//.*$").expect("a valid pattern");
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("a readable source folder") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let relative = path.strip_prefix(src).expect("under src");
            let top = relative
                .components()
                .next()
                .and_then(|c| c.as_os_str().to_str())
                .map(|c| c.trim_end_matches(".rs").to_owned())
                .expect("a file name");
            if top == "lib" || top == "main" || top == "bin" {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("a readable source file");
            // Unit tests may reach anywhere; they are not part of the graph.
            let text = tests.replace(&text, "");
            let text = comments.replace_all(&text, "");
            let refs = graph.entry(top.clone()).or_default();
            refs.extend(direct.captures_iter(&text).map(|c| c[1].to_owned()));
            for m in group.find_iter(&text) {
                // The first path segment of each item of `use crate::{...}`.
                let mut depth = 1;
                let mut item = String::new();
                for ch in text[m.end()..].chars() {
                    match ch {
                        '{' => depth += 1,
                        '}' => depth -= 1,
                        _ => {}
                    }
                    if depth == 0 {
                        break;
                    }
                    if depth == 1 && ch == ',' {
                        refs.extend(first_segment(&item));
                        item.clear();
                    } else if depth == 1 {
                        item.push(ch);
                    }
                }
                refs.extend(first_segment(&item));
            }
            refs.remove(&top);
        }
    }
    graph
}

fn first_segment(item: &str) -> Option<String> {
    let item = item.trim();
    let end = item
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(item.len());
    (end > 0).then(|| item[..end].to_owned())
}

/// A cycle among the modules, if there is one.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if graph.contains_key(next)
                && let Some(cycle) = visit(next, graph, path, done)
            {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn no_crate_has_an_import_cycle() {
    for krate in ["entity", "service", "worker", "api", "cli"] {
        let graph = module_graph(&workspace().join(krate).join("src"));
        assert!(graph.len() > 1, "{krate}: no modules found");
        if let Some(cycle) = find_cycle(&graph) {
            panic!("{krate} has an import cycle: {}", cycle.join(" -> "));
        }
    }
}

#[test]
fn the_cycle_finder_finds_cycles() {
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a", vec!["b"]),
        ("b", vec!["c"]),
        ("c", vec!["a"]),
        ("d", vec![]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.into_iter().map(str::to_owned).collect()))
    .collect();
    assert_eq!(
        find_cycle(&graph),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
    assert_eq!(
        first_segment(" store::{QueuePool, Store}"),
        Some("store".into())
    );
}
