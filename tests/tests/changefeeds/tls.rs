//! An upstream that accepts only TLS connections, registered with the CA
//! that signed its certificate: the engine's binlog reader and its schema
//! queries use the cluster's TLS settings.

use ferry_tests::{
    AppOptions, Backend,
    mariadb::{MariaDb, MariaDbOptions},
    tls_proxy::TestCa,
};
use serde_json::json;

use crate::helpers::*;

/// A scratch upstream with a certificate signed by `ca` that refuses
/// connections without TLS, and the directory holding its key.
async fn tls_only_upstream(ca: &TestCa) -> (MariaDb, tempfile::TempDir) {
    let certs = tempfile::tempdir().expect("certificate directory");
    let (cert, key) = ca.server_pem();
    let cert_path = certs.path().join("server.pem");
    let key_path = certs.path().join("server-key.pem");
    std::fs::write(&cert_path, cert).expect("write the certificate");
    std::fs::write(&key_path, key).expect("write the key");
    let options = MariaDbOptions {
        extra_args: vec![
            format!("--ssl-cert={}", cert_path.display()),
            format!("--ssl-key={}", key_path.display()),
            "--require-secure-transport=ON".into(),
        ],
        ..MariaDbOptions::default()
    };
    (MariaDb::start_with(options).await, certs)
}

#[tokio::test]
async fn an_upstream_that_requires_tls_replicates_with_the_clusters_ca() {
    let ca = TestCa::new("ferry-tests-ca");
    let (upstream, _certs) = tls_only_upstream(&ca).await;
    // The server refuses the same login without TLS and takes it with TLS,
    // so replicating proves ferry used TLS.
    let connect = |mode: &str| {
        let url = format!("{}?ssl-mode={mode}", upstream.server().url());
        async move { <sqlx::MySqlConnection as sqlx::Connection>::connect(&url).await }
    };
    assert!(
        connect("disabled").await.is_err(),
        "the upstream accepted a plaintext login"
    );
    assert!(connect("required").await.is_ok(), "no TLS login upstream");
    let tls = json!({ "tls": { "enabled": true, "caPem": ca.pem } });
    let rig = Rig::start_on(AppOptions::new(Backend::Sqlite), upstream, tls).await;
    let db = format!("`{}`", rig.db);
    rig.both_exec(&format!("CREATE DATABASE {db}")).await;
    rig.both_exec(&format!(
        "CREATE TABLE {db}.t (id INT PRIMARY KEY, v VARCHAR(16))"
    ))
    .await;
    let id = rig.create(json!({})).await;
    rig.wait_status(&id, "Normal").await;
    for i in 1..=5 {
        rig.up(&format!("INSERT INTO {db}.t VALUES ({i}, 'v{i}')"))
            .await;
    }
    rig.sync().await;
    rig.assert_equal("t", "id").await;
}
