//! The web console (issue #20) in a real browser: Debian's chromium driven
//! by playwright-core from `tests/browser/console.mjs`, against ferry
//! started as a user starts it (the API with its worker), a tansu broker
//! and two MariaDB servers for a changefeed. The script signs in, reads every page and uses the controls; it
//! asks this test to produce records with a native Kafka client and to
//! consume some of them in a group, so that the page's counts, lag and
//! charts have something to follow. Screenshots of each page are left in
//! `target/console-screenshots/`.

use std::{path::PathBuf, process::Stdio, time::Duration};

use ferry_tests::{
    AppOptions, Backend, TestApp, binaries,
    kafka::TestKafka,
    mariadb::{MariaDb, system_server},
};
use serde_json::{Value, json};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    process::Command,
};

/// How long the whole browser run may take.
const RUN_TIMEOUT: Duration = Duration::from_secs(300);

/// `tests/browser`, where the script and its `node_modules` are.
fn browser_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("browser");
    assert!(
        dir.join("node_modules/playwright-core").is_dir(),
        "{} has no node_modules: run scripts/test (it runs `npm ci` there and installs \
         Debian's chromium)",
        dir.display()
    );
    dir
}

/// Registers a cluster; answers its id.
async fn register(app: &TestApp, body: &Value) -> String {
    let reply = app.post("/api/v1/clusters", body).await.expect(201);
    reply["id"].as_str().expect("a cluster id").to_owned()
}

/// A MySQL cluster on this machine, reached as root without a password.
fn mysql(name: &str, port: u16) -> Value {
    json!({ "name": name, "kind": "mysql", "host": "127.0.0.1", "port": port, "user": "root" })
}

#[tokio::test]
async fn the_console_shows_and_does_what_the_token_allows() {
    let browser = browser_dir();
    let kafka = TestKafka::start().await;
    // Samples every 5 s, so that a chart has new points within the run.
    let app = TestApp::spawn_with(
        AppOptions::new(Backend::Sqlite).env("FERRY_STATS__INTERVAL_SECONDS", "5"),
    )
    .await;
    let cluster_id = register(&app, &kafka.registration("console-main")).await;
    // A changefeed's two ends: a scratch MariaDB with its binlog upstream,
    // the system MariaDB downstream, each with the table it replicates.
    let upstream = MariaDb::start().await;
    let downstream = system_server().create_database("console").await;
    let table = format!(
        "CREATE TABLE `{}`.`orders` (id INT PRIMARY KEY, note VARCHAR(40))",
        downstream.name()
    );
    let up = upstream.server();
    up.exec(&format!("CREATE DATABASE `{}`", downstream.name()))
        .await;
    up.exec(&table).await;
    downstream.server().exec(&table).await;
    let upstream_id = register(&app, &mysql("console-upstream", up.port)).await;
    let downstream_id =
        register(&app, &mysql("console-downstream", downstream.server().port)).await;
    // A failure for the overview to explain.
    let failed = app
        .ping(json!({ "failPermanently": "the console shows this failure" }))
        .await;
    app.wait_finished(&failed).await;

    let screenshots = binaries::profile_dir()
        .parent()
        .expect("the target directory")
        .join("console-screenshots");
    let topic = "console.orders";
    let mut node = Command::new("node")
        .arg(browser.join("console.mjs"))
        .current_dir(&browser)
        .env("FERRY_URL", &app.address)
        .env("FERRY_ADMIN_TOKEN", &app.admin_token)
        .env("FERRY_CLUSTER_ID", &cluster_id)
        .env("FERRY_CLUSTER_NAME", "console-main")
        .env("FERRY_TOPIC", topic)
        .env("FERRY_UPSTREAM_ID", &upstream_id)
        .env("FERRY_DOWNSTREAM_ID", &downstream_id)
        .env("FERRY_FEED_RULE", format!("{}.*", downstream.name()))
        .env("SCREENSHOT_DIR", &screenshots)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs (install Node.js)");
    let mut to_node = node.stdin.take().expect("node's stdin");
    let mut lines = BufReader::new(node.stdout.take().expect("node's stdout")).lines();
    // Held until the run ends: a member of the group the page shows.
    let mut consumer = None;
    let mut done = false;
    let run = async {
        while let Some(line) = lines.next_line().await.expect("node's output") {
            eprintln!("{line}");
            if line == "ferry-test: done" {
                done = true;
            } else if let Some(topic) = line.strip_prefix("ferry-test: produce ") {
                // Six records on partition 0, four of them consumed and
                // committed by `console-group`: a lag of two.
                kafka.produce_one_by_one(topic, 0, 6).await;
                consumer = Some(
                    kafka
                        .consume_and_commit("console-group", "console-client", topic, 4)
                        .await,
                );
                to_node.write_all(b"ok\n").await.expect("answer node");
            }
        }
        node.wait().await.expect("node ends")
    };
    let status = tokio::time::timeout(RUN_TIMEOUT, run)
        .await
        .unwrap_or_else(|_| panic!("the browser run took over {RUN_TIMEOUT:?}"));
    drop(consumer);
    assert!(
        status.success() && done,
        "the browser run failed ({status}); screenshots in {}; ferry's log:\n{}",
        screenshots.display(),
        app.api.tail()
    );
}
