//! A schema registry for the tests: the part of Confluent's Schema Registry
//! API that ferry and confluent-kafka's serializers call (register a schema
//! under a subject, read a schema by id or a subject's version, list
//! subjects and versions), with optional basic authentication.
//!
//! Why a stand-in: no Confluent-compatible registry installs from this
//! machine's registries (Confluent's is published on Confluent's own Maven
//! repository; Karapace and Apicurio are on neither PyPI, npm, crates.io
//! nor Debian). What it does is what the registry's reference documents:
//! ids are global and the same schema text of the same type always gets
//! the same id; errors are `{error_code, message}` (40401 subject, 40403
//! schema not found). The encoding ferry writes and reads is checked with
//! confluent-kafka's own serializers, which call this server through
//! confluent-kafka's registry client.

use std::{
    collections::BTreeMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
};

use base64::Engine;
use poem::{
    EndpointExt, Request, Response, Route, Server, handler,
    http::StatusCode,
    listener::{Acceptor, Listener, TcpListener},
    web::{Data, Json, Path},
};
use serde_json::{Value, json};

#[derive(Default)]
struct Registry {
    /// id - 1 -> (type, schema text).
    schemas: Vec<(String, String)>,
    /// subject -> ids, one per version.
    subjects: BTreeMap<String, Vec<usize>>,
}

#[derive(Clone)]
struct Shared {
    registry: Arc<Mutex<Registry>>,
    calls: Arc<AtomicUsize>,
    /// `user:password` as the `Authorization: Basic` header carries it.
    basic: Option<String>,
}

/// A running registry; it stops when dropped.
pub struct SchemaRegistry {
    pub url: String,
    calls: Arc<AtomicUsize>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl SchemaRegistry {
    /// A registry open to anyone.
    pub async fn start() -> Self {
        Self::start_with(None).await
    }

    /// A registry that answers only `user` with `password` (basic auth).
    pub async fn start_with_login(user: &str, password: &str) -> Self {
        Self::start_with(Some(format!("{user}:{password}"))).await
    }

    async fn start_with(basic: Option<String>) -> Self {
        let calls = Arc::new(AtomicUsize::new(0));
        let shared = Shared {
            registry: Arc::default(),
            calls: calls.clone(),
            basic,
        };
        let acceptor = TcpListener::bind("127.0.0.1:0")
            .into_acceptor()
            .await
            .expect("a port for the schema registry");
        let port = acceptor.local_addr()[0]
            .as_socket_addr()
            .expect("a TCP address")
            .port();
        let app = Route::new()
            .at("/subjects", poem::get(subjects))
            .at(
                "/subjects/:subject/versions",
                poem::get(versions).post(register),
            )
            .at("/subjects/:subject/versions/:version", poem::get(version))
            .at("/schemas/ids/:id", poem::get(schema_by_id))
            .data(shared);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = Server::new_with_acceptor(acceptor)
                .run_with_graceful_shutdown(
                    app,
                    async {
                        let _ = stopped.await;
                    },
                    None,
                )
                .await;
        });
        Self {
            url: format!("http://127.0.0.1:{port}"),
            calls,
            stop: Some(stop),
        }
    }

    /// How many calls the registry has answered.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl Drop for SchemaRegistry {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

fn answer(status: StatusCode, body: Value) -> Response {
    Response::builder()
        .status(status)
        .content_type(CONTENT_TYPE)
        .body(body.to_string())
}

fn error(status: StatusCode, code: i64, message: &str) -> Response {
    answer(status, json!({"error_code": code, "message": message}))
}

/// Counts the call; `Some` refusal when the login is wrong.
fn admit(shared: &Shared, req: &Request) -> Option<Response> {
    shared.calls.fetch_add(1, Ordering::SeqCst);
    let expected = shared.basic.as_ref()?;
    let given = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b64| {
            base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .ok()
        })
        .and_then(|raw| String::from_utf8(raw).ok());
    (given.as_deref() != Some(expected.as_str()))
        .then(|| error(StatusCode::UNAUTHORIZED, 401, "Unauthorized"))
}

#[handler]
fn subjects(req: &Request, shared: Data<&Shared>) -> Response {
    if let Some(refused) = admit(&shared, req) {
        return refused;
    }
    let registry = shared.registry.lock().unwrap();
    answer(
        StatusCode::OK,
        json!(registry.subjects.keys().collect::<Vec<_>>()),
    )
}

#[handler]
fn versions(req: &Request, shared: Data<&Shared>, Path(subject): Path<String>) -> Response {
    if let Some(refused) = admit(&shared, req) {
        return refused;
    }
    let registry = shared.registry.lock().unwrap();
    match registry.subjects.get(&subject) {
        Some(ids) => answer(StatusCode::OK, json!((1..=ids.len()).collect::<Vec<_>>())),
        None => error(StatusCode::NOT_FOUND, 40401, "Subject not found."),
    }
}

#[handler]
fn register(
    req: &Request,
    shared: Data<&Shared>,
    Path(subject): Path<String>,
    body: Json<Value>,
) -> Response {
    if let Some(refused) = admit(&shared, req) {
        return refused;
    }
    let Some(text) = body.get("schema").and_then(Value::as_str) else {
        return error(StatusCode::UNPROCESSABLE_ENTITY, 42201, "Invalid schema");
    };
    let kind = body
        .get("schemaType")
        .and_then(Value::as_str)
        .unwrap_or("AVRO")
        .to_owned();
    let mut registry = shared.registry.lock().unwrap();
    let id = match registry
        .schemas
        .iter()
        .position(|(k, t)| *k == kind && t == text)
    {
        Some(index) => index + 1,
        None => {
            registry.schemas.push((kind, text.to_owned()));
            registry.schemas.len()
        }
    };
    let known = registry.subjects.entry(subject).or_default();
    if !known.contains(&id) {
        known.push(id);
    }
    answer(StatusCode::OK, json!({ "id": id }))
}

/// A subject's version (1-based, or `latest`).
#[handler]
fn version(
    req: &Request,
    shared: Data<&Shared>,
    Path((subject, version)): Path<(String, String)>,
) -> Response {
    if let Some(refused) = admit(&shared, req) {
        return refused;
    }
    let registry = shared.registry.lock().unwrap();
    let Some(ids) = registry.subjects.get(&subject) else {
        return error(StatusCode::NOT_FOUND, 40401, "Subject not found.");
    };
    let number = match version.as_str() {
        "latest" => ids.len(),
        n => n.parse().unwrap_or(0),
    };
    let Some(id) = number.checked_sub(1).and_then(|i| ids.get(i)) else {
        return error(StatusCode::NOT_FOUND, 40402, "Version not found.");
    };
    let (kind, text) = &registry.schemas[id - 1];
    let mut body = json!({"subject": subject, "version": number, "id": id, "schema": text});
    if kind != "AVRO" {
        body["schemaType"] = json!(kind);
    }
    answer(StatusCode::OK, body)
}

#[handler]
fn schema_by_id(req: &Request, shared: Data<&Shared>, Path(id): Path<usize>) -> Response {
    if let Some(refused) = admit(&shared, req) {
        return refused;
    }
    let registry = shared.registry.lock().unwrap();
    match id.checked_sub(1).and_then(|i| registry.schemas.get(i)) {
        // The registry leaves schemaType out for Avro.
        Some((kind, text)) if kind == "AVRO" => answer(StatusCode::OK, json!({ "schema": text })),
        Some((kind, text)) => answer(
            StatusCode::OK,
            json!({ "schema": text, "schemaType": kind }),
        ),
        None => error(StatusCode::NOT_FOUND, 40403, "Schema not found"),
    }
}
