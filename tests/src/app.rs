//! A running ferry (API process, optional worker processes, metadata store)
//! and an HTTP client for it.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

pub use crate::launcher::{START_TIMEOUT, parse_listen_line};
use crate::{
    db::{Backend, DbOptions, TestDb},
    launcher::{LaunchOptions, Launcher},
    poll::eventually,
    process::FerryProcess,
    reply::Reply,
};

/// How long a task may take to finish in the ordinary tests.
pub const TASK_TIMEOUT: Duration = Duration::from_secs(45);

/// What to start.
#[derive(Debug, Clone)]
pub struct AppOptions {
    pub backend: Backend,
    /// Whether the API process also runs a worker (`--with-worker`). Without
    /// one, submitted tasks stay pending until a worker process is started.
    pub with_worker: bool,
    /// Extra `FERRY_*` (or `RUST_LOG`) settings for the API process; they
    /// override the harness defaults.
    pub env: Vec<(String, String)>,
    /// How every process of the app is started: binaries, settings shared
    /// with the workers, logs.
    pub launch: LaunchOptions,
    /// Where the store is created and how it is named.
    pub store: DbOptions,
}

impl AppOptions {
    pub fn new(backend: Backend) -> Self {
        Self {
            backend,
            with_worker: true,
            env: Vec::new(),
            launch: LaunchOptions::default(),
            store: DbOptions::default(),
        }
    }

    /// The API alone: nothing runs tasks unless the test starts a worker.
    pub fn without_worker(mut self) -> Self {
        self.with_worker = false;
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }
}

/// ferry as one test sees it. Dropping it kills the API process and then
/// removes the metadata store; worker processes started with
/// [`TestApp::start_worker`] belong to the test and are killed when it drops
/// them (declare them after the app so they go first).
pub struct TestApp {
    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub address: String,
    /// The bootstrap admin token (`FERRY_ADMIN_TOKEN`), whose actor name is
    /// `admin`.
    pub admin_token: String,
    pub client: reqwest::Client,
    pub api: FerryProcess,
    launcher: Launcher,
    // Declared last so that it is dropped after the processes that use it.
    pub db: TestDb,
}

impl TestApp {
    /// The API with an in-process worker, on a fresh store.
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(AppOptions::new(backend)).await
    }

    pub async fn spawn_with(options: AppOptions) -> Self {
        Self::try_spawn_with(options)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`TestApp::spawn_with`] that returns why ferry did not start instead
    /// of panicking.
    pub async fn try_spawn_with(options: AppOptions) -> Result<Self, String> {
        let db = TestDb::try_create_with(options.backend, &options.store).await?;
        let launcher = Launcher::new(&db, &options.launch)?;
        let (api, address) = launcher
            .spawn_api(options.with_worker, &options.env)
            .await?;
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            // The API is on loopback; a proxy from the environment must not
            // get in the way.
            .no_proxy()
            .build()
            .expect("build the HTTP client");
        Ok(Self {
            address,
            admin_token: launcher.admin_token().to_owned(),
            client,
            api,
            launcher,
            db,
        })
    }

    pub fn backend(&self) -> Backend {
        self.db.backend()
    }

    /// What starts this app's processes, for more of them.
    pub fn launcher(&self) -> &Launcher {
        &self.launcher
    }

    /// Starts a `ferry-worker` process on this app's store, named `name`
    /// (`FERRY_WORKER__NAME`), with extra settings.
    pub fn start_worker(&self, name: &str, env: &[(&str, &str)]) -> FerryProcess {
        let mut all = vec![("FERRY_WORKER__NAME".to_owned(), name.to_owned())];
        all.extend(env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        self.launcher
            .spawn_worker(name, &all)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// Sends a request with an arbitrary body and content type, for tests of
    /// malformed input. `token: None` sends no `Authorization` header.
    pub async fn send_raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        content_type: Option<&str>,
        body: Option<String>,
    ) -> Reply {
        let mut req = self.client.request(method.clone(), self.url(path));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(content_type) = content_type {
            req = req.header("content-type", content_type);
        }
        if let Some(body) = body {
            req = req.body(body);
        }
        let resp = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path} failed: {e}\n{}", self.api.tail()));
        Reply::read(method.as_str(), path, resp).await
    }

    /// Sends a request with these headers (and no others the harness
    /// adds) and an optional JSON body: for dialects whose clients send the
    /// token in a header of their own.
    pub async fn send_headers(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Reply {
        let mut req = self.client.request(method.clone(), self.url(path));
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        if let Some(body) = body {
            req = req
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let resp = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path} failed: {e}\n{}", self.api.tail()));
        Reply::read(method.as_str(), path, resp).await
    }

    /// Sends a request with an optional JSON body as the given token.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Reply {
        let body = body.map(|b| b.to_string());
        let content_type = body.as_ref().map(|_| "application/json");
        self.send_raw(method, path, token, content_type, body).await
    }

    /// `GET` as the admin.
    pub async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, Some(&self.admin_token), None)
            .await
    }

    /// A changefeed's detail (`data` of `GET /api/v1/changefeeds/{id}/`).
    pub async fn changefeed(&self, id: &str) -> Value {
        let reply = self
            .get(&format!("/api/v1/changefeeds/{id}/"))
            .await
            .expect(200);
        reply["data"].clone()
    }

    /// Waits until the changefeed is in `status` with no operation in flight;
    /// returns its detail.
    pub async fn wait_changefeed(&self, id: &str, status: &str, timeout: Duration) -> Value {
        eventually(
            &format!("changefeed {id} to be {status}"),
            timeout,
            || async {
                let d = self.changefeed(id).await;
                if d["status"] == status && d["unsteady"] == false {
                    Ok(d)
                } else {
                    Err(d)
                }
            },
        )
        .await
    }

    /// `POST` with a JSON body as the admin.
    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        self.send(Method::POST, path, Some(&self.admin_token), Some(body))
            .await
    }

    /// `PUT` with a JSON body as the admin.
    pub async fn put(&self, path: &str, body: &Value) -> Reply {
        self.send(Method::PUT, path, Some(&self.admin_token), Some(body))
            .await
    }

    /// `DELETE` as the admin.
    pub async fn delete(&self, path: &str) -> Reply {
        self.send(Method::DELETE, path, Some(&self.admin_token), None)
            .await
    }

    /// Mints a token with the given name and role; returns `(id, token)`.
    pub async fn mint_token(&self, name: &str, role: &str) -> (String, String) {
        let body = self
            .post("/api/v1/tokens", &json!({ "name": name, "role": role }))
            .await
            .expect(201);
        let id = body["id"]
            .as_str()
            .expect("minted token has an id")
            .to_owned();
        let token = body["token"]
            .as_str()
            .expect("minted token is shown once")
            .to_owned();
        (id, token)
    }

    /// Submits a task (`POST /api/v1/tasks`) as the admin and returns it.
    pub async fn submit(&self, body: &Value) -> Value {
        self.post("/api/v1/tasks", body).await.expect(202)
    }

    /// Submits a `ping` task with the given payload; returns its id.
    pub async fn ping(&self, payload: Value) -> String {
        let task = self
            .submit(&json!({ "kind": "ping", "payload": payload }))
            .await;
        task_id(&task)
    }

    /// `GET /api/v1/tasks/{id}`.
    pub async fn task(&self, id: &str) -> Value {
        self.get(&format!("/api/v1/tasks/{id}")).await.expect(200)
    }

    /// `POST /api/v1/tasks/{id}/cancel` as the admin.
    pub async fn cancel(&self, id: &str) -> Reply {
        let path = format!("/api/v1/tasks/{id}/cancel");
        self.send(Method::POST, &path, Some(&self.admin_token), None)
            .await
    }

    /// Polls a task until `done` accepts it.
    pub async fn wait_task(
        &self,
        id: &str,
        what: &str,
        timeout: Duration,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        eventually(&format!("task {id} to be {what}"), timeout, || async {
            let task = self.task(id).await;
            if done(&task) { Ok(task) } else { Err(task) }
        })
        .await
    }

    /// Polls a task until it is succeeded, failed or cancelled.
    pub async fn wait_finished(&self, id: &str) -> Value {
        self.wait_task(id, "finished", TASK_TIMEOUT, |t| {
            matches!(
                t["status"].as_str(),
                Some("succeeded" | "failed" | "cancelled")
            )
        })
        .await
    }
}

/// A task's id from its JSON.
pub fn task_id(task: &Value) -> String {
    task["id"]
        .as_str()
        .unwrap_or_else(|| panic!("task without id: {task}"))
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::parse_listen_line;

    #[test]
    fn listen_line_parses() {
        assert_eq!(
            parse_listen_line(
                "ferry: listening on http://127.0.0.1:41234 (Swagger UI at http://127.0.0.1:41234/docs)"
            ),
            Some("http://127.0.0.1:41234")
        );
        assert_eq!(parse_listen_line("ferry: listening soon"), None);
    }
}
