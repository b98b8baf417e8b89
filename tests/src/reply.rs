//! An HTTP response read in full, with assertions for ferry's error
//! envelopes.

use std::fmt;

use reqwest::{StatusCode, header::HeaderMap};
use serde_json::Value;

/// A response whose body has been read, so that it can be inspected several
/// times and printed in assertion messages.
#[derive(Debug, Clone)]
pub struct Reply {
    pub method: String,
    pub path: String,
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} -> {}: {}",
            self.method, self.path, self.status, self.text
        )
    }
}

impl Reply {
    pub async fn read(method: &str, path: &str, resp: reqwest::Response) -> Self {
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("read the response body");
        Self {
            method: method.to_owned(),
            path: path.to_owned(),
            status,
            headers,
            text,
        }
    }

    /// The body as JSON; panics, showing the body, when it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {self}"))
    }

    /// The `x-request-id` response header.
    pub fn request_id(&self) -> String {
        self.header("x-request-id")
            .unwrap_or_else(|| panic!("no x-request-id header: {self}"))
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    /// Asserts the status and returns the body: parsed when it is JSON,
    /// `Null` when it is empty or of another type (read `text` for those).
    pub fn expect(&self, status: u16) -> Value {
        assert_eq!(self.status.as_u16(), status, "unexpected status: {self}");
        let is_json = self
            .header("content-type")
            .is_some_and(|t| t.contains("json"));
        if is_json && !self.text.is_empty() {
            self.json()
        } else {
            Value::Null
        }
    }

    /// Asserts a native-dialect error: the status, and an RFC 7807 body whose
    /// `status` repeats it and whose `detail` explains it. Returns the detail.
    pub fn expect_problem(&self, status: u16) -> String {
        assert_eq!(self.status.as_u16(), status, "unexpected status: {self}");
        let content_type = self.header("content-type").unwrap_or_default();
        assert!(content_type.contains("json"), "error is not JSON: {self}");
        let body = self.json();
        assert!(body["type"].is_string(), "problem without `type`: {self}");
        assert!(body["title"].is_string(), "problem without `title`: {self}");
        assert_eq!(
            body["status"], status,
            "problem `status` differs from HTTP status: {self}"
        );
        let detail = body["detail"].as_str().unwrap_or_default();
        assert!(!detail.is_empty(), "problem without `detail`: {self}");
        // Not every error path fills in `requestId` yet (handler errors omit
        // it, `/metrics` sends ""); where it is filled in it must name this
        // request. `expect_strict_problem` checks the whole contract.
        let request_id = body["requestId"].as_str().unwrap_or_default();
        if !request_id.is_empty() {
            assert_eq!(
                request_id,
                self.request_id(),
                "problem `requestId` is not this request's: {self}"
            );
        }
        detail.to_owned()
    }

    /// [`Reply::expect_problem`], plus the parts of the contract that some
    /// error paths do not meet yet: the `application/problem+json` content
    /// type and a `requestId` equal to the `x-request-id` header.
    pub fn expect_strict_problem(&self, status: u16) -> String {
        let detail = self.expect_problem(status);
        let content_type = self.header("content-type").unwrap_or_default();
        assert!(
            content_type.starts_with("application/problem+json"),
            "problem served as `{content_type}`: {self}"
        );
        assert_eq!(
            self.json()["requestId"].as_str(),
            Some(self.request_id().as_str()),
            "problem `requestId` is not this request's: {self}"
        );
        detail
    }

    /// Asserts a TubeMQ-dialect failure envelope `{errMsg, errCode, result:
    /// false, data: ""}` with the given HTTP status. Returns `errMsg`.
    pub fn expect_tubemq_failure(&self, status: u16) -> String {
        assert_eq!(self.status.as_u16(), status, "unexpected status: {self}");
        let body = self.json();
        assert_eq!(
            body["result"], false,
            "TubeMQ failure without `result: false`: {self}"
        );
        assert!(
            body["errCode"].is_number(),
            "TubeMQ failure without numeric `errCode`: {self}"
        );
        assert_eq!(
            body["data"], "",
            "TubeMQ failure with `data` other than \"\": {self}"
        );
        let message = body["errMsg"].as_str().unwrap_or_default();
        assert!(
            !message.is_empty(),
            "TubeMQ failure without `errMsg`: {self}"
        );
        message.to_owned()
    }
}

/// TubeMQ's `/v1/cluster` answers `data` as a JSON-encoded string (as its
/// seed shows); this is that string parsed.
pub fn tubemq_cluster_rows(reply: &Value) -> Value {
    let text = reply["data"]
        .as_str()
        .unwrap_or_else(|| panic!("`data` is not a JSON-encoded string: {reply}"));
    serde_json::from_str(text).unwrap_or_else(|e| panic!("`data` does not parse ({e}): {reply}"))
}
