//! A hand-kept typed client of the routes the command line uses: the native
//! task API, TiEM's changefeeds, TubeMQ's addTopicTask and queryCanWrite, and
//! Confluent v3's topic list. Each answer type names the fields the commands
//! read and keeps every other field (`rest`), so that `--output json` prints
//! what the server answered.
//!
//! A refusal keeps the server's own message, from whichever envelope the
//! dialect answers with (native problems' `detail`, TiEM's `message`,
//! TubeMQ's `errMsg`, Confluent's `message`).

use std::time::Duration;

use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::{Map, Value, json};

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
    pub page: u64,
    pub page_size: u64,
}

/// A changefeed as TiEM shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Changefeed {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// A topic as Confluent v3 lists it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Topic {
    pub topic_name: String,
    #[serde(default)]
    pub partitions_count: Option<i64>,
    #[serde(default)]
    pub replication_factor: Option<i64>,
}

/// One topic of an addTopicTask request.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TopicRequest {
    pub topic_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partition_count: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replication_factor: Option<i32>,
}

/// What queryCanWrite answered: TubeMQ's code and message.
#[derive(Debug, Clone, Serialize)]
pub struct CanWrite {
    pub writable: bool,
    pub code: i64,
    pub message: String,
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

    pub async fn changefeeds(&self) -> Result<Vec<Changefeed>, ClientError> {
        let reply: Value = self
            .call(
                Method::GET,
                "/api/v1/changefeeds/",
                &[("pageSize", "100".to_owned())],
                None,
            )
            .await?;
        tiem_data("listing changefeeds", reply)
    }

    pub async fn changefeed(&self, id: &str) -> Result<Changefeed, ClientError> {
        let path = format!("/api/v1/changefeeds/{}/", segment(id));
        let reply: Value = self.call(Method::GET, &path, &[], None).await?;
        tiem_data(&format!("changefeed {id}"), reply)
    }

    /// Pauses or resumes a changefeed (`op`), or deletes it (`delete`),
    /// answering once its task has finished.
    pub async fn changefeed_operation(&self, id: &str, op: &str) -> Result<Value, ClientError> {
        let (method, path) = match op {
            "delete" => (
                Method::DELETE,
                format!("/api/v1/changefeeds/{}", segment(id)),
            ),
            _ => (
                Method::POST,
                format!("/api/v1/changefeeds/{}/{op}", segment(id)),
            ),
        };
        let reply: Value = self.call(method, &path, &[], None).await?;
        tiem_data(&format!("{op} changefeed {id}"), reply)
    }

    pub async fn topics(&self, cluster: &str) -> Result<Vec<Topic>, ClientError> {
        let path = format!("/v3/clusters/{}/topics", segment(cluster));
        let reply: Value = self.call(Method::GET, &path, &[], None).await?;
        serde_json::from_value(reply["data"].clone()).map_err(|e| ClientError::Malformed {
            what: format!("topics of cluster {cluster}"),
            detail: e.to_string(),
        })
    }

    /// Submits topic creations (TubeMQ's addTopicTask); answers their tasks'
    /// ids, in order.
    pub async fn add_topics(
        &self,
        cluster: &str,
        user: &str,
        topics: &[TopicRequest],
    ) -> Result<Vec<String>, ClientError> {
        let body = json!({ "clusterId": cluster, "user": user, "addTopicTasks": topics });
        let reply: Value = self
            .call(
                Method::POST,
                "/v1/task",
                &[("method", "addTopicTask".to_owned())],
                Some(body),
            )
            .await?;
        let what = "addTopicTask";
        tube_check(what, &reply)?;
        serde_json::from_value(reply["data"].clone()).map_err(|e| ClientError::Malformed {
            what: what.to_owned(),
            detail: e.to_string(),
        })
    }

    pub async fn can_write(
        &self,
        cluster: &str,
        topic: &str,
        user: &str,
    ) -> Result<CanWrite, ClientError> {
        let body = json!({ "clusterId": cluster, "topicName": topic, "user": user });
        let reply: Value = self
            .call(
                Method::POST,
                "/v1/topic",
                &[("method", "queryCanWrite".to_owned())],
                Some(body),
            )
            .await?;
        let code = reply["errCode"].as_i64().unwrap_or(-1);
        let message = reply["errMsg"].as_str().unwrap_or_default().to_owned();
        match code {
            // TubeMQ's answers about the topic: writable, not writable, no
            // such topic. Anything else is a refusal of the request.
            0 | 100 | 101 => Ok(CanWrite {
                writable: code == 0 && reply["result"] == true,
                code,
                message,
            }),
            _ => Err(ClientError::Refused {
                what: "queryCanWrite".to_owned(),
                status: 200,
                message,
            }),
        }
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<Value>,
    ) -> Result<T, ClientError> {
        let url = format!("{}{path}", self.base);
        let what = format!("{method} {path}");
        let mut request = self.http.request(method, &url).query(query);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token.expose_secret());
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
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

/// TiEM's `{code, data, message}`: the data when `code` is 0.
fn tiem_data<T: DeserializeOwned>(what: &str, reply: Value) -> Result<T, ClientError> {
    if reply["code"].as_i64() != Some(0) {
        return Err(ClientError::Refused {
            what: what.to_owned(),
            status: 200,
            message: message_of(&reply.to_string(), StatusCode::OK),
        });
    }
    serde_json::from_value(reply["data"].clone()).map_err(|e| ClientError::Malformed {
        what: what.to_owned(),
        detail: e.to_string(),
    })
}

/// TubeMQ's `{errCode, errMsg, result, data}`: refused unless `errCode` is 0.
fn tube_check(what: &str, reply: &Value) -> Result<(), ClientError> {
    if reply["errCode"].as_i64() == Some(0) {
        return Ok(());
    }
    Err(ClientError::Refused {
        what: what.to_owned(),
        status: 200,
        message: message_of(&reply.to_string(), StatusCode::OK),
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
