//! The audit log: every mutating call (POST, PUT, PATCH, DELETE) with a
//! valid token is recorded with who made it, what it was, its request id and
//! how it ended, including calls refused for the token's role, with the
//! token's id, its project and the client's address. Calls without
//! a valid token are counted in `/metrics`
//! (`ferry_http_unauthenticated_mutations_total`), not recorded.

use std::sync::{Arc, Mutex};

use chrono::Utc;
use ferry_entity::{AuditOutcome, audit_log};
use poem::{
    Endpoint, IntoResponse, Request, Response,
    http::{Method, StatusCode},
};
use sea_orm::{ActiveModelTrait, ActiveValue::Set};
use serde_json::Value;

use ferry_service::access::Identity;

use crate::{dialect::Dialect, middleware::request_id::RequestId, state::AppState};

/// Lets a handler add dialect-specific details to its audit entry (e.g. the
/// TubeMQ `user` field), or write the entry itself inside its own transaction.
#[derive(Clone, Default)]
pub struct AuditNote(Arc<Mutex<Note>>);

#[derive(Default)]
struct Note {
    detail: Option<Value>,
    call: Option<Call>,
    recorded: bool,
}

/// What the middleware knows of a call before the handler runs.
#[derive(Clone)]
struct Call {
    identity: Option<Identity>,
    request_id: String,
    method: String,
    path: String,
    /// The peer's address as the listener saw it (a proxy's, behind one).
    client_addr: Option<String>,
}

impl AuditNote {
    pub fn set(&self, detail: Value) {
        if let Ok(mut note) = self.0.lock() {
            note.detail = Some(detail);
        }
    }

    /// The entry this call leaves if it answers `status`, for a handler that
    /// writes it in the same transaction as its own rows (a task submission).
    /// Call [`AuditNote::recorded`] once that transaction has committed.
    pub fn entry(&self, status: StatusCode) -> Option<audit_log::ActiveModel> {
        let note = self.0.lock().ok()?;
        let call = note.call.as_ref()?;
        Some(entry(call, status, note.detail.clone()))
    }

    /// Tells the middleware that the handler has written the entry itself.
    pub fn recorded(&self) {
        if let Ok(mut note) = self.0.lock() {
            note.recorded = true;
        }
    }

    /// The details for an entry the middleware writes, or `None` when the
    /// handler has already written it.
    fn take_unrecorded(&self) -> Option<Option<Value>> {
        let mut note = self.0.lock().ok()?;
        (!note.recorded).then(|| note.detail.take())
    }
}

fn entry(call: &Call, status: StatusCode, detail: Option<Value>) -> audit_log::ActiveModel {
    audit_log::ActiveModel {
        at: Set(Utc::now()),
        actor: Set(call
            .identity
            .as_ref()
            .map_or_else(|| "anonymous".to_owned(), |i| i.name.clone())),
        role: Set(call.identity.as_ref().map(|i| i.role)),
        token_id: Set(call.identity.as_ref().map(|i| i.token_id.clone())),
        project_id: Set(call
            .identity
            .as_ref()
            .and_then(|i| i.project_id().map(str::to_owned))),
        client_addr: Set(call.client_addr.clone()),
        method: Set(call.method.clone()),
        path: Set(call.path.chars().take(1024).collect()),
        request_id: Set(call.request_id.clone()),
        status: Set(i32::from(status.as_u16())),
        outcome: Set(if status.is_success() {
            AuditOutcome::Success
        } else {
            AuditOutcome::Failure
        }),
        detail: Set(detail),
        ..Default::default()
    }
}

/// Produce calls (REST Proxy v2 and v3). Producing records is data, not a
/// change ferry makes to a cluster: an audit row per call would copy the
/// topics' traffic into the audit log. `/metrics` counts them instead
/// (`ferry_produced_records_total`).
const PRODUCE_ROUTES: [&str; 3] = [
    "/topics/{topic_name}",
    "/topics/{topic_name}/partitions/{partition_id}",
    "/v3/clusters/{cluster_id}/topics/{topic_name}/records",
];

/// REST Proxy v2's consumer routes read records and move a group's
/// offsets as a Kafka consumer does: data, like produce, and as frequent.
const CONSUMER_ROUTES: &str = "/consumers/";

/// Whether the call reads or writes records rather than changing anything
/// ferry manages (module doc).
fn is_data(req: &Request) -> bool {
    req.data::<AppState>().is_some_and(|state| {
        let route = state.routes.label(req.uri().path());
        route.starts_with(CONSUMER_ROUTES)
            || (*req.method() == Method::POST && PRODUCE_ROUTES.contains(&route))
    })
}

pub async fn record<E: Endpoint>(next: E, mut req: Request) -> poem::Result<Response> {
    let mutating = matches!(
        *req.method(),
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    if !mutating || is_data(&req) {
        return next.call(req).await.map(IntoResponse::into_response);
    }
    if req.extensions().get::<Identity>().is_none() {
        // A call without a valid token changes nothing, and a row per such
        // call would let anyone grow the table: they are counted instead.
        let dialect = Dialect::of_path(req.uri().path());
        metrics::counter!("ferry_http_unauthenticated_mutations_total", "dialect" => dialect.as_str())
            .increment(1);
        return next.call(req).await.map(IntoResponse::into_response);
    }
    let call = Call {
        identity: req.extensions().get::<Identity>().cloned(),
        request_id: req
            .extensions()
            .get::<RequestId>()
            .map(|r| r.0.clone())
            .unwrap_or_default(),
        method: req.method().to_string(),
        path: req
            .uri()
            .path_and_query()
            .map(|pq| pq.as_str().to_owned())
            .unwrap_or_default(),
        client_addr: req
            .remote_addr()
            .as_socket_addr()
            .map(|addr| addr.ip().to_string()),
    };
    let note = AuditNote(Arc::new(Mutex::new(Note {
        call: Some(call.clone()),
        ..Default::default()
    })));
    req.extensions_mut().insert(note.clone());
    let state = req.data::<AppState>().cloned();

    let result = next.call(req).await.map(IntoResponse::into_response);
    let status = match &result {
        Ok(resp) => resp.status(),
        Err(err) => err.status(),
    };
    if let (Some(state), Some(detail)) = (state, note.take_unrecorded())
        && let Err(err) = entry(&call, status, detail).insert(&state.store.db).await
    {
        tracing::error!(error = %err, "writing the audit log failed");
    }
    result
}
