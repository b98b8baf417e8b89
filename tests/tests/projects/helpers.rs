//! Two projects on one broker: A under the prefix `teama.`, B under
//! `teamb.`, with a token of each role.

use ferry_tests::{AppOptions, Backend, Reply, TestApp, kafka::TestKafka, mariadb::MariaDb};
use reqwest::Method;
use serde_json::{Value, json};

/// A project's id and its tokens by role.
pub struct Project {
    pub id: String,
    pub admin: String,
    pub client: String,
    pub viewer: String,
}

impl Project {
    pub fn token(&self, role: &str) -> &str {
        match role {
            "ADMIN" => &self.admin,
            "CLIENT" => &self.client,
            _ => &self.viewer,
        }
    }
}

pub struct World {
    pub kafka: TestKafka,
    /// A scratch MariaDB with a binlog: B's changefeed source and target.
    pub upstream: MariaDb,
    pub app: TestApp,
    /// The shared Kafka cluster: A under `teama.`, B under `teamb.`.
    pub shared: String,
    /// A second registration granted to B alone.
    pub b_only: String,
    /// A MySQL cluster granted to B as a changefeed source and target.
    pub mysql: String,
    pub a: Project,
    pub b: Project,
}

/// Starts ferry (limits off unless the test sets them) and a broker, and
/// makes both projects with their grants and tokens.
pub async fn world(backend: Backend, env: &[(&str, &str)]) -> World {
    let kafka = TestKafka::start().await;
    let mut options = AppOptions::new(backend).env("FERRY_RATE_LIMIT__PER_SECOND", "0");
    for (k, v) in env {
        options = options.env(k, v);
    }
    let app = TestApp::spawn_with(options).await;
    let shared = register(&app, &kafka.registration("shared")).await;
    let b_only = register(&app, &kafka.registration("b-only")).await;
    let upstream = MariaDb::start().await;
    let mysql = register(
        &app,
        &json!({ "name": "b-mysql", "kind": "mysql", "host": "127.0.0.1", "port": upstream.port(), "user": "root" }),
    )
    .await;
    let a = project(&app, "proja").await;
    let b = project(&app, "projb").await;
    grant(&app, "proja", &shared, json!({ "topicPrefix": "teama." })).await;
    grant(&app, "projb", &shared, json!({ "topicPrefix": "teamb." })).await;
    grant(&app, "projb", &b_only, json!({ "topicPrefix": null })).await;
    grant(
        &app,
        "projb",
        &mysql,
        json!({ "source": true, "target": true }),
    )
    .await;
    World {
        kafka,
        upstream,
        app,
        shared,
        b_only,
        mysql,
        a,
        b,
    }
}

async fn register(app: &TestApp, body: &Value) -> String {
    let reply = app.post("/api/v1/clusters", body).await.expect(201);
    reply["id"].as_str().expect("cluster id").to_owned()
}

async fn project(app: &TestApp, id: &str) -> Project {
    app.post(
        "/api/v1/projects",
        &json!({ "id": id, "name": format!("Team {id}"), "description": "test" }),
    )
    .await
    .expect(201);
    let mut tokens = Vec::new();
    for role in ["ADMIN", "CLIENT", "VIEWER"] {
        let minted = app
            .post(
                &format!("/api/v1/projects/{id}/tokens"),
                &json!({ "name": format!("{id}-{role}"), "role": role }),
            )
            .await
            .expect(201);
        tokens.push(minted["token"].as_str().expect("token").to_owned());
    }
    let [admin, client, viewer] = <[String; 3]>::try_from(tokens).expect("three tokens");
    Project {
        id: id.to_owned(),
        admin,
        client,
        viewer,
    }
}

pub async fn grant(app: &TestApp, project: &str, cluster: &str, body: Value) {
    app.put(
        &format!("/api/v1/projects/{project}/grants/{cluster}"),
        &body,
    )
    .await
    .expect(200);
}

/// A request as `token`.
pub async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<&Value>,
) -> Reply {
    app.send(method, path, Some(token), body).await
}

/// Topic names on the broker.
pub async fn broker_topics(kafka: &TestKafka) -> Vec<String> {
    let mut names: Vec<String> = kafka.topics().await.into_iter().map(|(n, _)| n).collect();
    names.sort();
    names
}
