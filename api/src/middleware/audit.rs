//! The audit log: every mutating call (POST, PUT, PATCH, DELETE) is recorded
//! with who made it, what it was, its request id and how it ended, including
//! calls refused for a missing token or role.

use std::sync::{Arc, Mutex};

use chrono::Utc;
use ferry_entity::audit_log;
use poem::{Endpoint, IntoResponse, Request, Response, http::Method};
use sea_orm::{ActiveModelTrait, ActiveValue::Set};
use serde_json::Value;

use crate::{auth::Identity, middleware::request_id::RequestId, state::AppState};

/// Lets a handler add dialect-specific details to its audit entry (e.g. the
/// TubeMQ `user` field).
#[derive(Clone, Default)]
pub struct AuditNote(Arc<Mutex<Option<Value>>>);

impl AuditNote {
    pub fn set(&self, detail: Value) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(detail);
        }
    }

    fn take(&self) -> Option<Value> {
        self.0.lock().ok().and_then(|mut slot| slot.take())
    }
}

pub async fn record<E: Endpoint>(next: E, mut req: Request) -> poem::Result<Response> {
    let mutating = matches!(
        *req.method(),
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    if !mutating {
        return next.call(req).await.map(IntoResponse::into_response);
    }
    let note = AuditNote::default();
    req.extensions_mut().insert(note.clone());
    let identity = req.extensions().get::<Identity>().cloned();
    let request_id = req
        .extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default();
    let method = req.method().to_string();
    let path = req
        .uri()
        .path_and_query()
        .map(|pq| pq.as_str().to_owned())
        .unwrap_or_default();
    let state = req.data::<AppState>().cloned();

    let result = next.call(req).await.map(IntoResponse::into_response);
    let status = match &result {
        Ok(resp) => resp.status(),
        Err(err) => err.status(),
    };
    if let Some(state) = state {
        let entry = audit_log::ActiveModel {
            at: Set(Utc::now()),
            actor: Set(identity
                .as_ref()
                .map_or_else(|| "anonymous".to_owned(), |i| i.name.clone())),
            role: Set(identity.as_ref().map(|i| i.role.as_str().to_owned())),
            method: Set(method),
            path: Set(path.chars().take(1024).collect()),
            request_id: Set(request_id),
            status: Set(i32::from(status.as_u16())),
            outcome: Set(if status.is_success() {
                "success"
            } else {
                "failure"
            }
            .to_owned()),
            detail: Set(note.take()),
            ..Default::default()
        };
        if let Err(err) = entry.insert(&state.store.db).await {
            tracing::error!(error = %err, "writing the audit log failed");
        }
    }
    result
}
