//! The routes of the dialects the command line speaks besides the native
//! API: TiEM's changefeeds, TubeMQ's addTopicTask and queryCanWrite, and
//! Confluent v3's topic list, each with its own envelope.

use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::{Map, Value, json};

use super::{Body, Client, ClientError, message_of, segment};

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

impl Client {
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
    /// Submits the topics in one addTopicTask call sent with `request_id`
    /// as its `X-Request-Id`, which the server stores on each of its tasks.
    pub async fn add_topics(
        &self,
        cluster: &str,
        user: &str,
        topics: &[TopicRequest],
        request_id: &str,
    ) -> Result<Vec<String>, ClientError> {
        let body = json!({ "clusterId": cluster, "user": user, "addTopicTasks": topics });
        let reply: Value = self
            .send(
                Method::POST,
                "/v1/task",
                &[("method", "addTopicTask".to_owned())],
                Body::Json(body),
                Some(request_id),
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
