//! A hand-kept typed client of the routes the command line uses: the native
//! task and changeset APIs (here and in [`changesets`]), TiEM's changefeeds,
//! TubeMQ's addTopicTask and queryCanWrite, and Confluent v3's topic list
//! (in [`dialects`]). Each answer type names the fields the commands read
//! and keeps every other field (`rest`), so that `--output json` prints what
//! the server answered.
//!
//! A refusal keeps the server's own message, from whichever envelope the
//! dialect answers with (native problems' `detail`, TiEM's `message`,
//! TubeMQ's `errMsg`, Confluent's `message`).

mod changesets;
mod dialects;

use std::time::Duration;

use reqwest::{Method, StatusCode, header::CONTENT_TYPE};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::{Map, Value};

/// The header naming a call, which the server stores on the tasks it
/// creates (`GET /api/v1/tasks?requestId=`).
const REQUEST_ID: &str = "x-request-id";

pub use self::{
    changesets::{
        Change, ChangeSummary, Changeset, ChangesetFilter, ChangesetPage, Drift, FieldChange, Plan,
        Step,
    },
    dialects::{CanWrite, Changefeed, Topic, TopicRequest},
};

/// How long one HTTP call may take, a task wait's own bound included.
const CALL_TIMEOUT: Duration = Duration::from_secs(90);

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("the server address `{0}` is not an http(s) URL")]
    BadUrl(String),
    #[error("cannot reach {url}: {source}")]
    Unreachable {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{what} was refused ({status}): {message}")]
    Refused {
        what: String,
        status: u16,
        message: String,
    },
    #[error("{what}: the answer is not ferry's: {detail}")]
    Malformed { what: String, detail: String },
}

impl ClientError {
    /// The server is away or says it is unavailable: a retry may succeed.
    pub fn is_unavailable(&self) -> bool {
        match self {
            ClientError::Unreachable { .. } => true,
            ClientError::Refused { status, .. } => *status >= 500,
            ClientError::BadUrl(_) | ClientError::Malformed { .. } => false,
        }
    }
}

/// A task as the native API shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Task {
    pub id: String,
    pub kind: String,
    pub status: String,
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub cluster_id: Option<String>,
    #[serde(default)]
    pub attempts: i64,
    #[serde(default)]
    pub last_error: Option<String>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

impl Task {
    /// Succeeded, failed or cancelled: nothing more will happen to it.
    pub fn is_final(&self) -> bool {
        matches!(self.status.as_str(), "succeeded" | "failed" | "cancelled")
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskPage {
    pub data: Vec<Task>,
    pub total: u64,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// Filters of the task list, as the native API names them.
#[derive(Debug, Default)]
pub struct TaskFilter {
    pub status: Option<String>,
    pub kind: Option<String>,
    pub cluster: Option<String>,
    pub subject: Option<String>,
    /// Only the tasks one call created (the `X-Request-Id` it sent).
    pub request_id: Option<String>,
    pub page: u64,
    pub page_size: u64,
}

#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<SecretString>,
}

impl Client {
    pub fn new(url: &str, token: Option<SecretString>) -> Result<Client, ClientError> {
        let base = url.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ClientError::BadUrl(url.to_owned()));
        }
        let http = reqwest::Client::builder()
            .timeout(CALL_TIMEOUT)
            .build()
            .map_err(|source| ClientError::Unreachable {
                url: base.clone(),
                source,
            })?;
        Ok(Client { http, base, token })
    }

    pub async fn tasks(&self, filter: &TaskFilter) -> Result<TaskPage, ClientError> {
        let mut query = vec![
            ("page", filter.page.to_string()),
            ("pageSize", filter.page_size.to_string()),
        ];
        for (name, value) in [
            ("status", &filter.status),
            ("kind", &filter.kind),
            ("clusterId", &filter.cluster),
            ("subject", &filter.subject),
            ("requestId", &filter.request_id),
        ] {
            if let Some(value) = value {
                query.push((name, value.clone()));
            }
        }
        self.call(Method::GET, "/api/v1/tasks", &query, None).await
    }

    /// The task, answered as soon as it is finished or when `wait` ends
    /// (the server's long poll; zero answers at once).
    pub async fn task(&self, id: &str, wait: Duration) -> Result<Task, ClientError> {
        let wait = wait.as_millis().min(60_000).to_string();
        let path = format!("/api/v1/tasks/{}", segment(id));
        self.call(Method::GET, &path, &[("waitMs", wait)], None)
            .await
    }

    pub async fn cancel(&self, id: &str) -> Result<Task, ClientError> {
        let path = format!("/api/v1/tasks/{}/cancel", segment(id));
        self.call(Method::POST, &path, &[], None).await
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<Value>,
    ) -> Result<T, ClientError> {
        let body = body.map_or(Body::None, Body::Json);
        self.send(method, path, query, body, None).await
    }

    async fn send<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Body,
        request_id: Option<&str>,
    ) -> Result<T, ClientError> {
        let url = format!("{}{path}", self.base);
        let what = format!("{method} {path}");
        let mut request = self.http.request(method, &url).query(query);
        if let Some(id) = request_id {
            request = request.header(REQUEST_ID, id);
        }
        if let Some(token) = &self.token {
            request = request.bearer_auth(token.expose_secret());
        }
        request = match body {
            Body::None => request,
            Body::Json(body) => request.json(&body),
            Body::Raw {
                bytes,
                content_type,
            } => request.header(CONTENT_TYPE, content_type).body(bytes),
        };
        let response = request
            .send()
            .await
            .map_err(|source| ClientError::Unreachable {
                url: self.base.clone(),
                source,
            })?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|source| ClientError::Unreachable {
                url: self.base.clone(),
                source,
            })?;
        if !status.is_success() {
            return Err(ClientError::Refused {
                what,
                status: status.as_u16(),
                message: message_of(&text, status),
            });
        }
        serde_json::from_str(&text).map_err(|e| ClientError::Malformed {
            what,
            detail: e.to_string(),
        })
    }
}

/// What a request carries.
pub(crate) enum Body {
    None,
    Json(Value),
    /// A document sent as it was read, e.g. YAML.
    Raw {
        bytes: Vec<u8>,
        content_type: &'static str,
    },
}

/// A path segment with the characters a URL path would misread escaped.
fn segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// The server's own words for a refusal, from any of ferry's envelopes.
fn message_of(text: &str, status: StatusCode) -> String {
    let body: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    ["detail", "message", "errMsg", "title"]
        .iter()
        .find_map(|key| body[*key].as_str().filter(|m| !m.is_empty()))
        .map(str::to_owned)
        .unwrap_or_else(|| {
            let text = text.trim();
            if text.is_empty() {
                status.to_string()
            } else {
                text.chars().take(300).collect()
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_escape_what_a_path_would_misread() {
        assert_eq!(segment("orders.v1"), "orders.v1");
        assert_eq!(segment("a/b?c"), "a%2Fb%3Fc");
    }

    #[test]
    fn refusals_keep_the_servers_words_from_each_envelope() {
        let bad = StatusCode::BAD_REQUEST;
        assert_eq!(message_of(r#"{"detail":"no task x"}"#, bad), "no task x");
        assert_eq!(
            message_of(r#"{"code":1,"message":"paused"}"#, bad),
            "paused"
        );
        assert_eq!(
            message_of(r#"{"errCode":101,"errMsg":"no such topic"}"#, bad),
            "no such topic"
        );
        assert_eq!(message_of("", bad), "400 Bad Request");
    }
}
