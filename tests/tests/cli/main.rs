//! The `ferry` command-line client (issue #21), run as a CI job runs it: a
//! subprocess given `FERRY_URL` and `FERRY_TOKEN` (or a configuration
//! file), judged by its exit code, its JSON on standard output and its lines
//! on standard error. Changesets (docs/CHANGESETS.md) are in `changesets`,
//! the configuration file in `config`.

mod changesets;
mod config;

use std::process::Output;

use ferry_tests::{Backend, TestApp, binaries, both_backends, kafka::TestKafka};
use serde_json::{Value, json};

/// What one run of `ferry` answered.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", self.stdout, self.stderr))
    }

    fn expect(self, code: i32) -> Run {
        assert_eq!(
            self.code, code,
            "exit code\nstdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self
    }
}

/// Runs `ferry args...` against `url` with `token` (none when `None`).
async fn ferry(url: &str, token: Option<&str>, args: &[&str]) -> Run {
    let mut env = vec![("FERRY_URL", url)];
    env.extend(token.map(|token| ("FERRY_TOKEN", token)));
    ferry_with(&env, args).await
}

/// Runs `ferry args...` with only the `FERRY_*` settings of `env`: no
/// configuration file unless `env` names one (`FERRY_CONFIG`, or
/// `XDG_CONFIG_HOME`), whatever the machine's own.
async fn ferry_with(env: &[(&str, &str)], args: &[&str]) -> Run {
    let mut command = tokio::process::Command::new(binaries::binary(binaries::CLI));
    command
        .args(args)
        .env_remove("FERRY_URL")
        .env_remove("FERRY_TOKEN")
        .env_remove("FERRY_CONFIG")
        .env("XDG_CONFIG_HOME", "/nonexistent/ferry-cli-tests");
    for (name, value) in env {
        command.env(name, value);
    }
    let Output {
        status,
        stdout,
        stderr,
    } = command.output().await.expect("ferry runs");
    Run {
        code: status.code().expect("ferry exited, not killed"),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

both_backends!(tasks_are_waited_for_with_exit_codes);

async fn tasks_are_waited_for_with_exit_codes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (url, token) = (app.address.as_str(), Some(app.admin_token.as_str()));

    let ok = app.ping(json!({})).await;
    let run = ferry(url, token, &["--output", "json", "tasks", "wait", &ok])
        .await
        .expect(0);
    assert_eq!(run.json()[0]["status"], "succeeded", "{}", run.stdout);
    // Not a terminal: progress comes as plain lines.
    assert!(run.stderr.contains("tasks: 1/1 finished"), "{}", run.stderr);

    let failed = app
        .ping(json!({ "failPermanently": "the CLI reports this" }))
        .await;
    let run = ferry(url, token, &["--output", "json", "tasks", "wait", &failed])
        .await
        .expect(1);
    assert_eq!(run.json()[0]["status"], "failed");
    assert_eq!(run.json()[0]["lastError"], "the CLI reports this");
    // Both together: one failure fails the wait.
    ferry(url, token, &["tasks", "wait", &ok, &failed])
        .await
        .expect(1);

    let slow = app.ping(json!({ "sleepMs": 30_000 })).await;
    let run = ferry(url, token, &["tasks", "wait", &slow, "--timeout", "1"])
        .await
        .expect(3);
    assert!(run.stdout.contains(&slow), "{}", run.stdout);
    ferry(url, token, &["tasks", "get", &slow]).await.expect(3);
    ferry(url, token, &["tasks", "cancel", &slow])
        .await
        .expect(0);
    let run = ferry(url, token, &["--output", "json", "tasks", "get", &slow])
        .await
        .expect(1);
    assert_eq!(run.json()["status"], "cancelled");

    // The table lists the tasks with their status; JSON has the page.
    let run = ferry(url, token, &["tasks", "list", "--status", "failed"])
        .await
        .expect(0);
    assert!(
        run.stdout.contains(&failed) && run.stdout.contains("status"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains(&ok), "{}", run.stdout);
    let run = ferry(
        url,
        token,
        &["--output", "json", "tasks", "list", "--kind", "ping"],
    )
    .await
    .expect(0);
    assert_eq!(run.json()["total"], 3, "{}", run.stdout);

    // Refusals carry the server's words; the server away is worth a retry.
    let run = ferry(url, token, &["tasks", "get", "no-such-task"])
        .await
        .expect(1);
    assert!(
        run.stderr.contains("no task no-such-task"),
        "{}",
        run.stderr
    );
    // The token is sent, never shown, even where a refusal is reported.
    assert!(!run.stderr.contains(&app.admin_token) && !run.stdout.contains(&app.admin_token));
    let run = ferry(url, None, &["tasks", "list"]).await.expect(1);
    assert!(run.stderr.contains("401"), "{}", run.stderr);
    ferry("http://127.0.0.1:9", token, &["tasks", "list"])
        .await
        .expect(5);
    let run = ferry(url, token, &["tasks", "frobnicate"]).await.expect(2);
    assert!(run.stderr.contains("frobnicate"), "{}", run.stderr);
}

#[tokio::test]
async fn topics_are_ensured_and_checked() {
    let kafka = TestKafka::start().await;
    let app = TestApp::spawn(Backend::Sqlite).await;
    let cluster = app
        .post("/api/v1/clusters", &kafka.registration("cli"))
        .await
        .expect(201)["id"]
        .as_str()
        .expect("a cluster id")
        .to_owned();
    let (url, token) = (app.address.as_str(), Some(app.admin_token.as_str()));
    let ensure = |topics: &'static [&'static str]| {
        let cluster = cluster.clone();
        async move {
            let mut args = vec!["--output", "json", "topics", "ensure", "--cluster"];
            args.push(&cluster);
            args.extend(topics);
            args.push("--wait");
            ferry(url, token, &args).await
        }
    };

    let run = ensure(&["cli-a:3", "cli-b"]).await.expect(0);
    let report = run.json();
    assert_eq!(report[0]["topic"], "cli-a", "{report}");
    assert_eq!(report[0]["outcome"], "created", "{report}");
    assert_eq!(report[1]["outcome"], "created", "{report}");
    let task = app
        .task(report[0]["taskId"].as_str().expect("a task id"))
        .await;
    assert_eq!(task["kind"], "topic.create");
    assert_eq!(task["status"], "succeeded");
    // The command named its call with its own request id, which is how it
    // waited for exactly its two tasks.
    let request_id = task["requestId"].as_str().expect("a request id");
    let run = ferry(
        url,
        token,
        &[
            "--output",
            "json",
            "tasks",
            "list",
            "--request-id",
            request_id,
        ],
    )
    .await
    .expect(0);
    assert_eq!(run.json()["total"], 2, "{}", run.stdout);
    let partitions = app
        .get(&format!("/v3/clusters/{cluster}/topics/cli-a"))
        .await
        .expect(200)["partitions_count"]
        .clone();
    assert_eq!(partitions, 3);

    // Ensuring again creates only what is missing and reports, without
    // changing, a topic that differs from what is asked.
    let run = ensure(&["cli-a:5", "cli-c"]).await.expect(0);
    let report = run.json();
    assert_eq!(report[0]["outcome"], "exists", "{report}");
    assert!(
        report[0]["note"]
            .as_str()
            .is_some_and(|n| n.contains("has 3 partitions, 5 asked")),
        "{report}"
    );
    assert_eq!(report[1]["topic"], "cli-c");
    assert_eq!(report[1]["outcome"], "created", "{report}");
    let run = ferry(
        url,
        token,
        &[
            "--output",
            "json",
            "tasks",
            "list",
            "--kind",
            "topic.create",
        ],
    )
    .await
    .expect(0);
    assert_eq!(run.json()["total"], 3, "one creation per missing topic");

    ferry(url, token, &["can-write", &cluster, "cli-a"])
        .await
        .expect(0);
    let run = ferry(
        url,
        token,
        &["--output", "json", "can-write", &cluster, "nope"],
    )
    .await
    .expect(1);
    assert_eq!(run.json()["code"], 101, "{}", run.stdout);

    let run = ferry(
        url,
        token,
        &["topics", "ensure", "--cluster", &cluster, "bad:0"],
    )
    .await
    .expect(2);
    assert!(
        run.stderr.contains("not a positive number"),
        "{}",
        run.stderr
    );
    // A viewer may look but not create: refused, nothing submitted.
    let (_, viewer) = app.mint_token("cli-viewer", "viewer").await;
    ferry(
        url,
        Some(&viewer),
        &["topics", "ensure", "--cluster", &cluster, "cli-d"],
    )
    .await
    .expect(1);
    ferry(url, Some(&viewer), &["can-write", &cluster, "cli-a"])
        .await
        .expect(0);
}
