//! Shared set-up for the API tests; the process and database plumbing lives
//! in the `ferry_tests` library so that other test binaries can reuse it.

pub use ferry_tests::{AppOptions, Backend, TestApp, app::task_id, both_backends, eventually};
pub use reqwest::Method;
pub use serde_json::{Value, json};

/// ferry as installed by default: the API with a worker in the same process.
pub async fn spawn_app(backend: Backend) -> TestApp {
    TestApp::spawn(backend).await
}

/// The API alone. Submitted tasks stay `pending` until the test starts a
/// worker process, which makes queue contents deterministic.
pub async fn spawn_api_only(backend: Backend) -> TestApp {
    TestApp::spawn_with(AppOptions::new(backend).without_worker()).await
}

/// The `data` array of a list response.
pub fn data(body: &Value) -> &Vec<Value> {
    body["data"]
        .as_array()
        .unwrap_or_else(|| panic!("list response without a `data` array: {body}"))
}
