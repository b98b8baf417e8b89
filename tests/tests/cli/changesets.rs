//! `ferry plan|apply|approve|resume|diff|changesets` (docs/CHANGESETS.md)
//! against a tansu broker, judged by exit codes (0 done, 1 refused or
//! failed, 2 no one to confirm, 4 drift), the server's JSON and what the
//! broker then holds.

use std::{path::Path, process::Stdio};

use ferry_tests::{Backend, TestApp, both_backends, kafka::TestKafka};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

use crate::ferry;

/// Writes `text` to `dir/name`; answers its path.
fn document(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write the document");
    path.to_str().expect("a UTF-8 path").to_owned()
}

/// The actions of a plan's changes, by name.
fn actions(changeset: &Value) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = changeset["plan"]["changes"]
        .as_array()
        .unwrap_or_else(|| panic!("a plan with changes: {changeset}"))
        .iter()
        .map(|c| {
            let name = c["name"].as_str().unwrap_or_default().to_owned();
            (name, c["action"].as_str().unwrap_or_default().to_owned())
        })
        .collect();
    found.sort();
    found
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(n, a)| ((*n).to_owned(), (*a).to_owned()))
        .collect()
}

both_backends!(changesets_are_planned_applied_approved_and_diffed);

async fn changesets_are_planned_applied_approved_and_diffed(backend: Backend) {
    let kafka = TestKafka::start().await;
    let app = TestApp::spawn(backend).await;
    let cluster = app
        .post("/api/v1/clusters", &kafka.registration("cli-changesets"))
        .await
        .expect(201)["id"]
        .as_str()
        .expect("a cluster id")
        .to_owned();
    let (url, token) = (app.address.as_str(), Some(app.admin_token.as_str()));
    let dir = tempfile::tempdir().expect("a temporary directory");
    let topics = document(
        dir.path(),
        "payments.yaml",
        &format!(
            "cluster: {cluster}\nname: cli-payments\ntopics:\n  - name: cs.orders\n    partitions: 3\n  \
             - name: cs.refunds\n    partitions: 1\n    configs:\n      cleanup.policy: compact\n"
        ),
    );

    // Planned: two creations, nothing changed yet.
    let run = ferry(url, token, &["--output", "json", "plan", "-f", &topics])
        .await
        .expect(0);
    let planned = run.json();
    assert_eq!(planned["status"], "planned", "{planned}");
    assert_eq!(
        actions(&planned),
        pairs(&[("cs.orders", "create"), ("cs.refunds", "create")])
    );
    assert_eq!(kafka.partitions_of("cs.orders").await, None);
    let run = ferry(url, token, &["plan", "-f", &topics]).await.expect(0);
    assert!(
        run.stdout.contains("2 to create") && run.stdout.contains("cs.refunds"),
        "{}",
        run.stdout
    );
    // The table names the changeset it planned, to apply it later.
    let named = run
        .stdout
        .split("ferry apply --changeset ")
        .nth(1)
        .and_then(|rest| rest.split('`').next())
        .unwrap_or_else(|| panic!("no changeset to apply named: {}", run.stdout));
    let run = ferry(
        url,
        token,
        &["--output", "json", "changesets", "get", named],
    )
    .await
    .expect(0);
    assert_eq!(run.json()["status"], "planned", "{}", run.stdout);
    assert_ne!(run.json()["id"], planned["id"], "each plan is a changeset");
    // The file differs from the cluster: drift.
    ferry(url, token, &["diff", "-f", &topics]).await.expect(4);

    // Applied and waited for; then the cluster matches the file.
    let run = ferry(url, token, &["apply", "-f", &topics, "--approve", "--wait"])
        .await
        .expect(0);
    assert!(run.stdout.contains("applied"), "{}", run.stdout);
    assert_eq!(kafka.partitions_of("cs.orders").await, Some(3));
    assert_eq!(kafka.partitions_of("cs.refunds").await, Some(1));
    ferry(url, token, &["diff", "-f", &topics]).await.expect(0);
    let run = ferry(url, token, &["--output", "json", "plan", "-f", &topics])
        .await
        .expect(0);
    assert_eq!(
        actions(&run.json()),
        pairs(&[("cs.orders", "unchanged"), ("cs.refunds", "unchanged")])
    );
    let run = ferry(url, token, &["apply", "-f", &topics]).await.expect(0);
    assert!(run.stdout.contains("Nothing to do"), "{}", run.stdout);

    // A raise of partitions is an update, shown old -> new. tansu 0.6.0 has
    // no CreatePartitions: the step fails, and the failure names its task
    // and the broker's refusal; a resume runs it again, and fails again.
    let raised = document(
        dir.path(),
        "raised.yaml",
        &format!(
            "cluster: {cluster}\nname: cli-payments\ntopics:\n  - name: cs.orders\n    partitions: 3\n  \
             - name: cs.refunds\n    partitions: 2\n    configs:\n      cleanup.policy: compact\n"
        ),
    );
    let run = ferry(url, token, &["plan", "-f", &raised]).await.expect(0);
    assert!(
        run.stdout.contains("partitions: 1 -> 2") && run.stdout.contains("1 to update"),
        "{}",
        run.stdout
    );
    let run = ferry(
        url,
        token,
        &[
            "--output",
            "json",
            "apply",
            "-f",
            &raised,
            "--approve",
            "--wait",
        ],
    )
    .await
    .expect(1);
    let failed = run.json();
    assert_eq!(failed["status"], "failed", "{failed}");
    assert!(
        run.stderr.contains("topic.partitions task") && run.stderr.contains("CreatePartitions"),
        "{}",
        run.stderr
    );
    let failed_id = failed["id"].as_str().expect("a changeset id");
    assert!(
        run.stderr.contains(&format!("ferry resume {failed_id}")),
        "{}",
        run.stderr
    );
    let run = ferry(url, token, &["resume", failed_id, "--wait"])
        .await
        .expect(1);
    assert!(run.stderr.contains("CreatePartitions"), "{}", run.stderr);

    // A config added is an update from the broker's default, applied.
    let configured = document(
        dir.path(),
        "configured.yaml",
        &format!(
            "cluster: {cluster}\nname: cli-payments\ntopics:\n  - name: cs.orders\n    partitions: 3\n  \
             - name: cs.refunds\n    partitions: 1\n    configs:\n      cleanup.policy: compact\n      \
             retention.ms: \"86400000\"\n"
        ),
    );
    let run = ferry(url, token, &["plan", "-f", &configured])
        .await
        .expect(0);
    assert!(
        run.stdout
            .contains("configs.retention.ms: (default) -> 86400000"),
        "{}",
        run.stdout
    );
    let run = ferry(
        url,
        token,
        &[
            "--output",
            "json",
            "apply",
            "-f",
            &configured,
            "--approve",
            "--wait",
        ],
    )
    .await
    .expect(0);
    let applied = run.json();
    assert_eq!(applied["status"], "applied", "{applied}");
    let applied_id = applied["id"].as_str().expect("a changeset id").to_owned();
    ferry(url, token, &["diff", "-f", &configured])
        .await
        .expect(0);

    // Kafka cannot lower a partition count: refused, by plan and by apply.
    let lowered = document(
        dir.path(),
        "lowered.json",
        &json!({
            "cluster": cluster.parse::<i64>().expect("a numeric cluster id"),
            "name": "cli-payments",
            "topics": [
                { "name": "cs.orders", "partitions": 1 },
                {
                    "name": "cs.refunds",
                    "partitions": 1,
                    "configs": { "cleanup.policy": "compact", "retention.ms": "86400000" },
                },
            ],
        })
        .to_string(),
    );
    let run = ferry(url, token, &["--output", "json", "plan", "-f", &lowered])
        .await
        .expect(1);
    let refused = run.json();
    assert_eq!(refused["status"], "refused", "{refused}");
    let orders = &refused["plan"]["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .find(|c| c["name"] == "cs.orders")
        .expect("cs.orders planned")
        .clone();
    assert!(orders["refused"].is_string(), "{orders}");
    let run = ferry(url, token, &["plan", "-f", &lowered]).await.expect(1);
    assert!(run.stdout.contains("REFUSED"), "{}", run.stdout);
    ferry(url, token, &["apply", "-f", &lowered, "--approve"])
        .await
        .expect(1);
    assert_eq!(kafka.partitions_of("cs.orders").await, Some(3));

    // No terminal and no --approve: nobody can confirm, nothing applied.
    let audit = document(
        dir.path(),
        "audit.yaml",
        &format!(
            "cluster: {cluster}\nname: cli-audit\nrequireApproval: true\ntopics:\n  \
             - name: cs.audit\n    partitions: 1\n"
        ),
    );
    let run = ferry(url, token, &["apply", "-f", &audit]).await.expect(2);
    assert!(run.stderr.contains("--approve"), "{}", run.stderr);
    assert_eq!(kafka.partitions_of("cs.audit").await, None);

    // A changeset that asks for a second token's approval waits for it.
    let run = ferry(url, token, &["apply", "-f", &audit, "--approve"])
        .await
        .expect(0);
    assert!(run.stdout.contains("ferry approve"), "{}", run.stdout);
    let run = ferry(
        url,
        token,
        &[
            "--output",
            "json",
            "changesets",
            "list",
            "--name",
            "cli-audit",
            "--status",
            "awaitingApproval",
        ],
    )
    .await
    .expect(0);
    let waiting = run.json();
    assert_eq!(waiting["total"], 1, "{waiting}");
    let listed = &waiting["data"];
    let waiting_id = listed[0]["id"].as_str().expect("a changeset id").to_owned();
    let run = ferry(url, token, &["approve", &waiting_id]).await.expect(1);
    assert!(run.stderr.contains("403"), "{}", run.stderr);
    assert_eq!(kafka.partitions_of("cs.audit").await, None);
    let (_, second) = app.mint_token("cli-approver", "client").await;
    let run = ferry(
        url,
        Some(&second),
        &["--output", "json", "approve", &waiting_id, "--wait"],
    )
    .await
    .expect(0);
    assert_eq!(run.json()["status"], "applied", "{}", run.stdout);
    assert_eq!(kafka.partitions_of("cs.audit").await, Some(1));

    // The list and one changeset, as tables.
    let run = ferry(
        url,
        token,
        &["changesets", "list", "--name", "cli-payments"],
    )
    .await
    .expect(0);
    assert!(
        run.stdout.contains(&applied_id)
            && run.stdout.contains("refused")
            && run.stdout.contains("failed"),
        "{}",
        run.stdout
    );
    let run = ferry(url, token, &["changesets", "get", &applied_id])
        .await
        .expect(0);
    assert!(run.stdout.contains("topic.config"), "{}", run.stdout);

    // Drift of an applied changeset: none, then a config it sets changed
    // behind its back (tansu reports every config as a default, so an
    // override the document leaves out would not show).
    let run = ferry(url, token, &["diff", "--changeset", &applied_id])
        .await
        .expect(0);
    assert!(run.stdout.contains("No drift"), "{}", run.stdout);
    app.put(
        &format!("/v3/clusters/{cluster}/topics/cs.refunds/configs/retention.ms"),
        &json!({ "value": "3600000" }),
    )
    .await
    .expect(204);
    let run = ferry(url, token, &["diff", "--changeset", &applied_id])
        .await
        .expect(4);
    assert!(
        run.stdout
            .contains("configs.retention.ms: 3600000 -> 86400000"),
        "{}",
        run.stdout
    );
    ferry(url, token, &["diff", "-f", &configured])
        .await
        .expect(4);

    // The token is sent, never shown.
    assert!(!run.stdout.contains(&app.admin_token) && !run.stderr.contains(&app.admin_token));
}

#[tokio::test]
async fn a_document_is_read_from_standard_input() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    // No cluster 999: the server refuses the document in its own words.
    let mut child =
        tokio::process::Command::new(ferry_tests::binaries::binary(ferry_tests::binaries::CLI))
            .args(["plan", "-f", "-"])
            .env("FERRY_URL", &app.address)
            .env("FERRY_TOKEN", &app.admin_token)
            .env("XDG_CONFIG_HOME", "/nonexistent/ferry-cli-tests")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("ferry runs");
    let mut stdin = child.stdin.take().expect("ferry's stdin");
    stdin
        .write_all(b"cluster: 999\nname: cli-stdin\ntopics: [{name: a}]\n")
        .await
        .expect("write the document");
    drop(stdin);
    let output = child.wait_with_output().await.expect("ferry ends");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("POST /api/v1/changesets"), "{stderr}");
    assert!(stderr.contains("999"), "the server's words: {stderr}");
}
