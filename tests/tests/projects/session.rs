//! `GET /api/v1/session`: what the web console learns of the token it
//! signed in with. A global token is told its role; a project token its
//! role within the project, the project and its grants; no answer carries
//! the token itself, and no token gets 401 in the native envelope.

use ferry_tests::Backend;
use reqwest::Method;

use crate::helpers::{call, world};

#[tokio::test]
async fn a_token_learns_who_it_is_and_nothing_secret() {
    let w = world(Backend::Sqlite, &[]).await;
    let app = &w.app;

    let admin = app.get("/api/v1/session").await.expect(200);
    assert_eq!(admin["name"], "admin", "{admin}");
    assert_eq!(admin["role"], "admin", "{admin}");
    assert_eq!(admin["globalAdmin"], true, "{admin}");
    assert!(admin["projectId"].is_null(), "{admin}");
    assert_eq!(admin["grants"], serde_json::json!([]), "{admin}");

    for (role, token) in [("admin", &w.a.admin), ("viewer", &w.a.viewer)] {
        let reply = call(app, Method::GET, "/api/v1/session", token, None).await;
        assert!(
            !reply.text.contains(token.as_str()),
            "the secret is never answered"
        );
        let me = reply.expect(200);
        assert_eq!(me["role"], role, "{me}");
        assert_eq!(me["projectId"], "proja", "{me}");
        assert_eq!(
            me["globalAdmin"], false,
            "a project's ADMIN is no global admin"
        );
        let grants = me["grants"].as_array().expect("grants");
        assert_eq!(grants.len(), 1, "{me}");
        assert_eq!(grants[0]["clusterId"], w.shared.as_str(), "{me}");
        assert_eq!(grants[0]["topicPrefix"], "teama.", "{me}");
    }

    let anonymous = app
        .send(Method::GET, "/api/v1/session", None, None)
        .await
        .expect(401);
    assert_eq!(anonymous["status"], 401, "{anonymous}");
}
