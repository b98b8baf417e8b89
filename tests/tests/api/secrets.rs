//! The secret key (issue #16, items 13 and 14): processes that start
//! together on a fresh SQLite store agree on one key file; a wrong
//! `FERRY_SECRET_KEY` is refused at start, clearly; a key is rotated with
//! `FERRY_SECRET_KEY_PREVIOUS`.

use ferry_tests::{
    TestDb,
    launcher::{LaunchOptions, Launcher},
};

use crate::helpers::*;

/// Registers a MySQL cluster with a password through the API at `base`.
async fn register(base: &str, token: &str, name: &str) {
    let reply = reqwest::Client::new()
        .post(format!("{base}/api/v1/clusters"))
        .bearer_auth(token)
        .json(&json!({ "name": name, "kind": "mysql", "host": "db", "user": "u", "password": "hunter2" }))
        .send()
        .await
        .expect("the API answers");
    assert_eq!(reply.status(), 201, "{:?}", reply.text().await);
}

/// Every registered cluster, as the API at `base` lists it.
async fn clusters(base: &str, token: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(format!("{base}/api/v1/clusters"))
        .bearer_auth(token)
        .send()
        .await
        .expect("the API answers")
}

#[tokio::test]
async fn processes_starting_together_agree_on_the_key() {
    let db = TestDb::create(Backend::Sqlite).await;
    let launcher = Launcher::new(&db, &LaunchOptions::default()).expect("a launcher");
    let token = launcher.admin_token().to_owned();
    // Two processes on a fresh store at the same moment: each may create the
    // key file.
    let (a, b) = tokio::join!(
        launcher.spawn_api(true, &[]),
        launcher.spawn_api(false, &[])
    );
    let (mut a, base_a) = a.expect("the first API starts");
    let (mut b, base_b) = b.expect("the second API starts");
    register(&base_a, &token, "through-a").await;
    register(&base_b, &token, "through-b").await;
    a.kill();
    b.kill();

    let (_c, base) = launcher.spawn_api(false, &[]).await.expect("a restart");
    let listed = clusters(&base, &token).await;
    assert_eq!(listed.status(), 200, "a secret no longer opens");
    let body: Value = listed.json().await.expect("JSON");
    let set: Vec<bool> = data(&body)
        .iter()
        .map(|c| c["passwordSet"].as_bool().unwrap_or(false))
        .collect();
    assert_eq!(set, vec![true, true], "{body}");
}

#[tokio::test]
async fn a_wrong_key_is_refused_at_start_and_a_key_is_rotated() {
    let db = TestDb::create(Backend::Sqlite).await;
    let old = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    let new = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";
    let with_key = |key: &str| LaunchOptions {
        env: vec![("FERRY_SECRET_KEY".to_owned(), key.to_owned())],
        ..LaunchOptions::default()
    };
    let launcher = Launcher::new(&db, &with_key(old)).expect("a launcher");
    let token = launcher.admin_token().to_owned();
    let (mut first, base) = launcher.spawn_api(false, &[]).await.expect("it starts");
    register(&base, &token, "sealed-with-the-old-key").await;
    first.kill();

    // Another key: refused, saying why, instead of answering 503 later.
    let wrong = Launcher::new(&db, &with_key(new)).expect("a launcher");
    let refused = wrong.spawn_api(false, &[]).await;
    let error = refused
        .err()
        .expect("ferry refuses to start with the wrong key");
    assert!(error.contains("FERRY_SECRET_KEY_PREVIOUS"), "{error}");

    // The new key with the old one as previous: it starts, re-seals, and
    // from then on the new key alone opens everything.
    let rotating = Launcher::new(
        &db,
        &LaunchOptions {
            env: vec![
                ("FERRY_SECRET_KEY".to_owned(), new.to_owned()),
                ("FERRY_SECRET_KEY_PREVIOUS".to_owned(), old.to_owned()),
            ],
            ..LaunchOptions::default()
        },
    )
    .expect("a launcher");
    let (mut rotated, _) = rotating.spawn_api(false, &[]).await.expect("it starts");
    rotated.kill();
    let (_after, base) = wrong
        .spawn_api(false, &[])
        .await
        .expect("the new key alone works now");
    let listed = clusters(&base, wrong.admin_token()).await;
    assert_eq!(listed.status(), 200);
    let body: Value = listed.json().await.expect("JSON");
    assert_eq!(data(&body)[0]["passwordSet"], true, "{body}");
}
