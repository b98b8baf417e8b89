//! The one error the registries and task submission return: a kind that
//! every dialect maps to its own status and envelope in one place
//! (`api/src/dialect.rs` and each dialect's error type), a message fit to
//! show the caller, and the cause, kept for logs.

use sea_orm::{DbErr, SqlErr};

/// What went wrong, as far as a caller is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The thing asked for does not exist (or is not visible to the caller).
    NotFound,
    /// The request contradicts what is stored: a name taken, a state that
    /// does not allow the operation.
    Conflict,
    /// Another task on the same subject is pending or running; the same
    /// request succeeds once it has finished.
    Busy,
    /// The request itself is wrong; the message names the field.
    Invalid,
    /// The caller may not do this.
    Forbidden,
    /// The metadata store (or a cluster asked on the caller's behalf) did not
    /// answer; retrying may help, and nothing was written.
    Unavailable,
}

type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ServiceError {
    kind: ErrorKind,
    message: String,
    #[source]
    cause: Option<Cause>,
    /// The subjects a [`ErrorKind::Busy`] refusal is about, in request order
    /// (TubeMQ lists them).
    busy: Vec<String>,
}

impl ServiceError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            cause: None,
            busy: Vec::new(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, message)
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Invalid, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Forbidden, message)
    }

    /// Other tasks on `subjects` are in progress.
    pub fn busy(message: impl Into<String>, subjects: Vec<String>) -> Self {
        Self {
            busy: subjects,
            ..Self::new(ErrorKind::Busy, message)
        }
    }

    /// A dependency failed; the message says what was being done, the cause
    /// is kept for the log and never shown to the caller.
    pub fn unavailable(doing: impl Into<String>, cause: impl Into<Cause>) -> Self {
        Self {
            cause: Some(cause.into()),
            ..Self::new(ErrorKind::Unavailable, doing)
        }
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// The subjects of a [`ErrorKind::Busy`] refusal.
    pub fn busy_subjects(&self) -> &[String] {
        &self.busy
    }

    /// The message with the message of every cause, for logs.
    pub fn detail(&self) -> String {
        let mut out = self.message.clone();
        let mut cause = self.cause.as_deref().map(|c| c as &dyn std::error::Error);
        while let Some(c) = cause {
            out.push_str(": ");
            out.push_str(&c.to_string());
            cause = c.source();
        }
        out
    }

    /// The same error with a new message (e.g. with context in front).
    pub fn map_message(mut self, f: impl FnOnce(String) -> String) -> Self {
        self.message = f(self.message);
        self
    }
}

/// A metadata-store failure: unavailable, nothing written.
impl From<DbErr> for ServiceError {
    fn from(err: DbErr) -> Self {
        Self::unavailable("the metadata store is unavailable; try again", err)
    }
}

impl From<sqlx::Error> for ServiceError {
    fn from(err: sqlx::Error) -> Self {
        Self::unavailable("the metadata store is unavailable; try again", err)
    }
}

/// A stored secret that cannot be decrypted: the key is not the one it was
/// sealed with.
impl From<crate::secrets::SecretError> for ServiceError {
    fn from(err: crate::secrets::SecretError) -> Self {
        Self::unavailable("a stored secret cannot be read with this secret key", err)
    }
}

/// Whether `err` is a unique-constraint violation, by the database's own
/// error code rather than by its text.
pub fn is_unique_violation(err: &DbErr) -> bool {
    matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

pub type ServiceResult<T> = Result<T, ServiceError>;
