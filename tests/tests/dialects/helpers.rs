//! One broker, one ferry, and a project `shop` whose topics live under
//! `shop.` on it, with a token of each role; a second project `other` on
//! the same broker under `other.`.

use ferry_tests::{AppOptions, Backend, Reply, TestApp, kafka::TestKafka};
use reqwest::Method;
use serde_json::{Value, json};

pub struct Tokens {
    pub admin: String,
    pub client: String,
    pub viewer: String,
}

pub struct World {
    pub kafka: TestKafka,
    pub app: TestApp,
    /// The Kafka cluster's id and its UUID.
    pub cluster: String,
    pub uuid: String,
    pub shop: Tokens,
    pub other: Tokens,
}

pub async fn world() -> World {
    world_with(&[]).await
}

/// The same world with extra settings for ferry.
pub async fn world_with(env: &[(&str, &str)]) -> World {
    let kafka = TestKafka::start().await;
    let mut options = AppOptions::new(Backend::Sqlite).env("FERRY_RATE_LIMIT__PER_SECOND", "0");
    for (key, value) in env {
        options = options.env(key, value);
    }
    let app = TestApp::spawn_with(options).await;
    let registered = app
        .post("/api/v1/clusters", &kafka.registration("shared"))
        .await
        .expect(201);
    let cluster = registered["id"].as_str().expect("id").to_owned();
    let uuid = registered["uuid"].as_str().expect("uuid").to_owned();
    let shop = project(&app, "shop", &cluster).await;
    let other = project(&app, "other", &cluster).await;
    World {
        kafka,
        app,
        cluster,
        uuid,
        shop,
        other,
    }
}

async fn project(app: &TestApp, id: &str, cluster: &str) -> Tokens {
    app.post(
        "/api/v1/projects",
        &json!({ "id": id, "name": id, "description": "" }),
    )
    .await
    .expect(201);
    app.put(
        &format!("/api/v1/projects/{id}/grants/{cluster}"),
        &json!({ "topicPrefix": format!("{id}.") }),
    )
    .await
    .expect(200);
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
    let [admin, client, viewer] = <[String; 3]>::try_from(tokens).expect("three");
    Tokens {
        admin,
        client,
        viewer,
    }
}

/// An EasyQueue call with the token in `X-NHN-Authorization`.
pub async fn eq(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<&Value>,
) -> Reply {
    app.send_headers(
        method,
        path,
        &[("X-NHN-Authorization", &format!("Bearer {token}"))],
        body,
    )
    .await
}

/// EasyQueue answers every call with HTTP 200; the body's header says how
/// it went. Returns the body after checking the header's code.
pub fn eq_expect(reply: &Reply, code: i64) -> Value {
    assert_eq!(reply.status.as_u16(), 200, "{reply}");
    let body = reply.json();
    assert_eq!(body["header"]["resultCode"], code, "{reply}");
    assert_eq!(body["header"]["isSuccessful"], code == 0, "{reply}");
    assert!(body["header"]["resultMessage"].is_string(), "{reply}");
    body
}

/// A failure's message, after checking its code.
pub fn eq_failure(reply: &Reply, code: i64) -> String {
    let body = eq_expect(reply, code);
    body["header"]["resultMessage"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// A topic config as the broker reports it (rdkafka's DescribeConfigs).
pub async fn broker_config(kafka: &TestKafka, topic: &str, name: &str) -> Option<String> {
    use rdkafka::admin::{AdminOptions, ResourceSpecifier};
    let described = kafka
        .admin()
        .describe_configs(&[ResourceSpecifier::Topic(topic)], &AdminOptions::new())
        .await
        .expect("DescribeConfigs");
    described
        .into_iter()
        .next()
        .and_then(Result::ok)
        .and_then(|resource| {
            resource
                .entries
                .into_iter()
                .find(|e| e.name == name)
                .and_then(|e| e.value)
        })
}
