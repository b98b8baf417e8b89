//! EasyQueue's API v1.0, `/v1.0/appkeys/{appKey}/...`: a project's topics,
//! their partitions and consumer groups, and statistics, exactly as
//! easyqueue-api.md documents them.
//!
//! `{appKey}` is a ferry project id. Its topics live on the one Kafka
//! cluster granted to the project, named `{appKey}.{topicName}` on the
//! broker (the grant's prefix is meant to be `{appKey}.`). A project token
//! reaches only its own appKey; global tokens reach every one.
//!
//! Every answer is HTTP 200 with `{"header": {"isSuccessful", "resultCode",
//! "resultMessage"}}`. Result codes:
//! - `0`: success;
//! - `400`: the request is invalid (the message names the field), or Kafka
//!   refused the change;
//! - `401`: no valid token in `X-NHN-Authorization: Bearer ...` (or
//!   `Authorization`);
//! - `403`: the token's role may not do this: creating, editing and
//!   deleting topics needs ADMIN;
//! - `404`: no such appKey or topic (for this token);
//! - `409`: the topic exists, or another change to it is in progress;
//! - `413`: the body is too large; `429`: the token's rate limit (with
//!   `Retry-After`);
//! - `503`: the cluster or the metadata store did not answer; retry.
//!
//! Creating, editing and deleting are tasks; the call waits up to
//! `api.task_wait_ms` and answers with the outcome, or, when the task is
//! still running then, with success, `topicStatus: "WARNING"` and its
//! `taskId`.

use std::sync::Arc;

use ferry_entity::{ClusterId, ClusterKind, FailureKind, TaskStatus};
use ferry_service::{
    clusters,
    error::{ErrorKind, ServiceError},
    kafka::KafkaCluster,
    projects,
    tasks::{Task, Waited},
};
use poem::Request;
use poem_openapi::{Object, SecurityScheme, auth::ApiKey, payload::Json};
use sea_orm::DbErr;

use crate::{
    auth::{BearerAuth, Forbidden, Identity},
    state::AppState,
};

pub mod details;
pub mod statistics;
pub mod topics;
pub mod views;

/// The header of every answer.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", rename = "EasyQueueHeader")]
pub struct Header {
    pub is_successful: bool,
    /// 0 on success; see the module's list of codes.
    pub result_code: i32,
    pub result_message: String,
}

impl Default for Header {
    fn default() -> Self {
        Self {
            is_successful: true,
            result_code: 0,
            result_message: "Success".into(),
        }
    }
}

/// An answer's body: its header and, on success, its fields.
pub trait Envelope: Default {
    fn header_mut(&mut self) -> &mut Header;
}

/// Declares an answer body: `header` plus optional fields, left out of
/// failures, and its schema's name (unique across every dialect).
macro_rules! envelope {
    ($(#[$meta:meta])* $name:ident as $schema:literal { $($(#[$fmeta:meta])* $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Default, poem_openapi::Object)]
        #[oai(rename_all = "camelCase", rename = $schema)]
        pub struct $name {
            pub header: $crate::easyqueue::Header,
            $(
                $(#[$fmeta])*
                #[oai(nullable, skip_serializing_if_is_none)]
                pub $field: Option<$ty>,
            )*
        }

        impl $crate::easyqueue::Envelope for $name {
            fn header_mut(&mut self) -> &mut $crate::easyqueue::Header {
                &mut self.header
            }
        }
    };
}
pub(crate) use envelope;

/// A failed call: its result code and message.
#[derive(Debug)]
pub struct EqError {
    pub code: i32,
    pub message: String,
}

impl EqError {
    pub fn invalid(message: impl Into<String>) -> Self {
        Self {
            code: 400,
            message: message.into(),
        }
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self {
            code: 404,
            message: message.into(),
        }
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self {
            code: 409,
            message: message.into(),
        }
    }
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self {
            code: 503,
            message: message.into(),
        }
    }
}

impl From<Forbidden> for EqError {
    fn from(err: Forbidden) -> Self {
        Self {
            code: 403,
            message: err.to_string(),
        }
    }
}

impl From<DbErr> for EqError {
    fn from(err: DbErr) -> Self {
        tracing::error!(error = %err, "metadata store error");
        Self::unavailable("the metadata store is unavailable; try again")
    }
}

/// Every registry error, in one place.
impl From<ServiceError> for EqError {
    fn from(err: ServiceError) -> Self {
        let message = err.message().to_owned();
        match err.kind() {
            ErrorKind::Invalid => Self::invalid(message),
            ErrorKind::NotFound => Self::not_found(message),
            ErrorKind::Busy | ErrorKind::Conflict => Self::conflict(message),
            ErrorKind::Forbidden => Self { code: 403, message },
            ErrorKind::Unavailable => {
                tracing::error!(error = %err.detail(), "request failed on a dependency");
                Self::unavailable(message)
            }
        }
    }
}

pub type EqResult<T> = Result<T, EqError>;

/// Renders a handler's outcome: its body, or the same body type with only a
/// failed header.
pub fn answer<T: Envelope>(outcome: EqResult<T>) -> Json<T> {
    Json(outcome.unwrap_or_else(|err| {
        let mut body = T::default();
        *body.header_mut() = Header {
            is_successful: false,
            result_code: err.code,
            result_message: err.message,
        };
        body
    }))
}

/// EasyQueue's token header, `X-NHN-Authorization: Bearer <token>`.
#[derive(SecurityScheme)]
#[oai(
    ty = "api_key",
    key_name = "X-NHN-Authorization",
    key_in = "header",
    checker = "nhn_identity"
)]
pub struct NhnAuth(pub Identity);

/// The `authenticate` middleware has already resolved the token from either
/// header.
async fn nhn_identity(req: &Request, _key: ApiKey) -> Option<Identity> {
    req.extensions().get::<Identity>().cloned()
}

/// The token in `X-NHN-Authorization`, or in `Authorization`.
#[derive(SecurityScheme)]
pub enum EqAuth {
    Nhn(NhnAuth),
    Bearer(BearerAuth),
}

impl EqAuth {
    pub fn identity(&self) -> &Identity {
        match self {
            EqAuth::Nhn(a) => &a.0,
            EqAuth::Bearer(a) => &a.0,
        }
    }
}

/// An appKey the caller reaches: its project's Kafka cluster and the
/// prefix of its topics.
pub struct AppKey {
    pub app_key: String,
    pub cluster_id: ClusterId,
    pub cluster_uuid: String,
    pub cluster: Arc<KafkaCluster>,
    pub bootstrap_servers: String,
    pub identity: Identity,
}

impl AppKey {
    pub async fn open(state: &AppState, identity: &Identity, app_key: &str) -> EqResult<Self> {
        let missing = || EqError::not_found(format!("appKey {app_key} not found"));
        if identity.project_id().is_some_and(|own| own != app_key) {
            return Err(missing());
        }
        let db = &state.store.db;
        projects::get(db, app_key)
            .await
            .map_err(|e| match e.kind() {
                ErrorKind::NotFound => missing(),
                _ => e.into(),
            })?;
        let mut kafka = Vec::new();
        for grant in projects::grants(db, app_key).await? {
            let view = clusters::get(&state.store, grant.cluster_id).await?;
            if view.kind == ClusterKind::Kafka {
                kafka.push(view);
            }
        }
        let view = match kafka.len() {
            1 => kafka.remove(0),
            0 => {
                return Err(EqError::not_found(format!(
                    "appKey {app_key} has no Kafka cluster: a global admin grants one with \
                     PUT /api/v1/projects/{app_key}/grants/{{clusterId}}"
                )));
            }
            n => {
                return Err(EqError::conflict(format!(
                    "appKey {app_key} is granted {n} Kafka clusters; EasyQueue serves a project \
                     with exactly one"
                )));
            }
        };
        let cluster = state.kafka.get(&state.store, view.id).await?;
        Ok(Self {
            app_key: app_key.to_owned(),
            cluster_id: view.id,
            cluster_uuid: view.uuid.clone(),
            bootstrap_servers: view.settings.bootstrap_servers.clone().unwrap_or_default(),
            cluster,
            identity: identity.clone(),
        })
    }

    /// `{appKey}.`: what every topic name of the appKey starts with.
    pub fn prefix(&self) -> String {
        format!("{}.", self.app_key)
    }

    /// The broker's name of a topic given with or without the prefix.
    pub fn full_name(&self, name: &str) -> String {
        let prefix = self.prefix();
        if name.starts_with(&prefix) {
            name.to_owned()
        } else {
            format!("{prefix}{name}")
        }
    }

    /// Whether a broker topic belongs to the appKey and the caller sees it.
    pub fn owns(&self, full_name: &str) -> bool {
        full_name.starts_with(&self.prefix())
            && self.identity.reaches_name(self.cluster_id, full_name)
    }

    /// The topic's stable id: a UUID derived from the cluster's UUID and the
    /// topic's name.
    pub fn topic_id(&self, full_name: &str) -> String {
        let namespace =
            uuid::Uuid::parse_str(&self.cluster_uuid).unwrap_or(uuid::Uuid::NAMESPACE_OID);
        uuid::Uuid::new_v5(&namespace, full_name.as_bytes()).to_string()
    }
}

/// Waits for a change's task: finished (and succeeded) or still running;
/// a failed task is an error (400 when Kafka refused, 503 when it kept
/// failing transiently).
pub async fn settle(state: &AppState, task: Task) -> EqResult<Waited> {
    match crate::edge::wait_task(state, task).await? {
        running @ Waited::Running(_) => Ok(running),
        Waited::Finished(task) => match task.status {
            TaskStatus::Succeeded => Ok(Waited::Finished(task)),
            _ => {
                let reason = task.last_error.as_deref().unwrap_or("the change failed");
                let message = format!("{reason} (task {})", task.id);
                Err(if task.failure.is_some_and(FailureKind::is_transient) {
                    EqError::unavailable(message)
                } else {
                    EqError::invalid(message)
                })
            }
        },
    }
}
