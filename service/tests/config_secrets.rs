//! Sensitive config values set through the Confluent routes never stand in a
//! task's stored payload or in what callers read of it: they are sealed with
//! the store's key when the task is recorded (issue #16, item 15). tansu
//! reports no sensitive configs, so this is checked on the service itself,
//! against a real SQLite store.

use ferry_entity::payload::{ConfigChange, ConfigOp, ConfigOpKind, ConfigResource};
use ferry_service::{
    clusters::{self, ClusterInput},
    settings::Settings,
    tasks::{self, Requester},
    topics::admin::submit_config_change,
};
use secrecy::ExposeSecret;

fn set(name: &str, value: &str) -> ConfigOp {
    ConfigOp {
        name: name.to_owned(),
        value: Some(value.to_owned()),
        sealed: None,
        operation: ConfigOpKind::Set,
    }
}

#[tokio::test]
async fn sensitive_values_are_sealed_in_task_payloads() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut settings = Settings::load(None).expect("ferry's defaults load");
    settings.database_url = format!("sqlite://{}/ferry.db?mode=rwc", dir.path().display());
    settings.secret_key = None;
    let store = ferry_service::open_store(&settings).await.expect("a store");
    let cluster = clusters::create(
        &store,
        ClusterInput {
            name: Some("k".into()),
            kind: Some("kafka".into()),
            bootstrap_servers: Some("127.0.0.1:9".into()),
            ..Default::default()
        },
    )
    .await
    .expect("a registered cluster");
    let change = ConfigChange {
        resource: ConfigResource::Broker(1),
        ops: vec![
            set("listener.name.plain.ssl.keystore.password", "hunter2-key"),
            set("custom.token", "marked-by-the-broker"),
            set("log.retention.ms", "3600000"),
        ],
    };
    let who = Requester {
        created_by: "test".into(),
        request_id: None,
        project_id: None,
    };
    let task = submit_config_change(
        &store,
        cluster.id,
        change,
        &["custom.token".to_owned()],
        &who,
    )
    .await
    .expect("the task is recorded");
    assert_eq!(task.cluster_id, Some(cluster.id));

    let stored = tasks::get(&store.db, &task.id)
        .await
        .expect("the store answers")
        .expect("the task is stored");
    let raw = stored.payload.to_string();
    for secret in ["hunter2-key", "marked-by-the-broker"] {
        assert!(!raw.contains(secret), "a secret is stored in clear: {raw}");
    }
    assert!(raw.contains("3600000"), "a plain value is kept: {raw}");

    let shown = tasks::shown_payload(&stored).to_string();
    assert!(!shown.contains("sealed"), "{shown}");
    assert_eq!(shown.matches("******").count(), 2, "{shown}");

    let payload: ConfigChange = stored.payload().expect("a typed payload");
    let opened = store
        .secrets
        .decrypt(payload.ops[0].sealed.as_deref().expect("sealed"))
        .expect("the store's key opens it");
    assert_eq!(opened.expose_secret(), "hunter2-key");
}
