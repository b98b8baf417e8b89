//! Listing, filtering, paging and cancelling tasks.

use std::collections::HashSet;

use chrono::{DateTime, Utc};

use crate::helpers::*;

both_backends!(
    tasks_are_paged_newest_first_and_filtered,
    only_pending_tasks_can_be_cancelled
);

async fn tasks_are_paged_newest_first_and_filtered(backend: Backend) {
    // Without a worker every task stays pending, so the counts are exact.
    let app = spawn_api_only(backend).await;
    // Two registered clusters: a task's clusterId must name one.
    let mut cluster = Vec::new();
    for name in ["even", "odd"] {
        let body = json!({ "name": name, "kind": "kafka", "bootstrapServers": "127.0.0.1:9" });
        let created = app.post("/api/v1/clusters", &body).await.expect(201);
        cluster.push(created["id"].as_str().expect("a cluster id").to_owned());
    }
    let (even, odd) = (cluster[0].clone(), cluster[1].clone());
    let mut submitted = Vec::new();
    for i in 0..25 {
        let task = app
            .submit(&json!({
                "kind": "ping",
                "subject": format!("subject-{}", i % 5),
                "clusterId": if i % 2 == 0 { &even } else { &odd },
                "payload": { "n": i },
            }))
            .await;
        assert_eq!(task["status"], "pending", "{task}");
        submitted.push(task_id(&task));
    }

    let mut listed = Vec::new();
    for (page, expected) in [(1, 10), (2, 10), (3, 5), (4, 0)] {
        let body = app
            .get(&format!("/api/v1/tasks?page={page}&pageSize=10"))
            .await
            .expect(200);
        assert_eq!(body["total"], 25, "page {page}: {body}");
        assert_eq!(body["page"], page, "{body}");
        assert_eq!(body["pageSize"], 10, "{body}");
        assert_eq!(data(&body).len(), expected, "page {page}: {body}");
        listed.extend(data(&body).iter().cloned());
    }

    let ids: Vec<String> = listed.iter().map(task_id).collect();
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), 25, "an id appears on two pages: {ids:?}");
    let created: Vec<DateTime<Utc>> = listed
        .iter()
        .map(|t| {
            t["createdAt"]
                .as_str()
                .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                .unwrap_or_else(|| panic!("createdAt is not RFC 3339: {t}"))
                .with_timezone(&Utc)
        })
        .collect();
    assert!(
        created.windows(2).all(|w| w[0] >= w[1]),
        "tasks are not newest first: {created:?}"
    );
    // Submitted one after another, they come back in exactly reverse order.
    let newest_first: Vec<String> = submitted.iter().rev().cloned().collect();
    assert_eq!(ids, newest_first, "the listing order is not newest first");

    // Filters narrow `total` and every row matches them.
    let count = async |query: &str| {
        let body = app
            .get(&format!("/api/v1/tasks?pageSize=100&{query}"))
            .await
            .expect(200);
        let rows = data(&body).len() as u64;
        let total = body["total"].as_u64().expect("total is a number");
        assert_eq!(rows, total, "{query}: rows and total disagree: {body}");
        (total, body)
    };
    let (total, body) = count("subject=subject-3").await;
    assert_eq!(total, 5, "{body}");
    assert!(
        data(&body).iter().all(|t| t["subject"] == "subject-3"),
        "{body}"
    );
    let (total, body) = count(&format!("clusterId={even}")).await;
    assert_eq!(total, 13, "{body}");
    assert!(
        data(&body).iter().all(|t| t["clusterId"] == even.as_str()),
        "{body}"
    );
    assert_eq!(count(&format!("clusterId={odd}")).await.0, 12);
    // subject-1 and odd: i in {1, 11, 21}.
    assert_eq!(
        count(&format!("subject=subject-1&clusterId={odd}")).await.0,
        3
    );
    assert_eq!(count("subject=nobody").await.0, 0);
    assert_eq!(count("kind=ping").await.0, 25);
    assert_eq!(count("kind=topic.create").await.0, 0);
    assert_eq!(count("status=pending").await.0, 25);
    // `createdSince` keeps the tasks created at or after an instant: the
    // ten newest from the tenth newest's creation on, none after the newest.
    let since = |at: DateTime<Utc>| {
        let text = at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        format!("createdSince={}", text.replace('+', "%2B"))
    };
    let (total, body) = count(&since(created[9])).await;
    assert_eq!(total, 10, "{body}");
    let later = created[0] + chrono::Duration::milliseconds(1);
    assert_eq!(count(&since(later)).await.0, 0);
    // `requestId` keeps the tasks one call created: each of these calls
    // created one.
    let call = listed[4]["requestId"].as_str().expect("a request id");
    let (total, body) = count(&format!("requestId={call}")).await;
    assert_eq!(total, 1, "{body}");
    assert_eq!(data(&body)[0]["id"], listed[4]["id"], "{body}");
    assert_eq!(count("requestId=nobody").await.0, 0);

    for id in &submitted[..3] {
        app.cancel(id).await.expect(200);
    }
    let (total, body) = count("status=cancelled").await;
    assert_eq!(total, 3, "{body}");
    assert!(
        data(&body).iter().all(|t| t["status"] == "cancelled"),
        "{body}"
    );
    assert_eq!(count("status=pending").await.0, 22);
    assert_eq!(count("status=succeeded").await.0, 0);
    // submitted[0] is subject-0 and even.
    assert_eq!(
        count(&format!(
            "status=cancelled&subject=subject-0&clusterId={even}"
        ))
        .await
        .0,
        1
    );
    // A task's clusterId names a registered cluster (404 for one that is
    // not: the body is well formed); a filter takes an id.
    let refused = app
        .post(
            "/api/v1/tasks",
            &json!({ "kind": "ping", "clusterId": "999999", "payload": {} }),
        )
        .await;
    refused.expect_problem(404);
    app.get("/api/v1/tasks?clusterId=even")
        .await
        .expect_problem(400);

    // Invalid parameters are refused, not ignored.
    let detail = app
        .get("/api/v1/tasks?status=bogus")
        .await
        .expect_problem(400);
    assert!(
        detail.contains("status"),
        "the error does not name the parameter: {detail}"
    );
    for size in ["0", "501"] {
        let detail = app
            .get(&format!("/api/v1/tasks?pageSize={size}"))
            .await
            .expect_problem(400);
        assert!(
            detail.contains("pageSize"),
            "the error does not name the parameter: {detail}"
        );
    }
    let body = app.get("/api/v1/tasks?pageSize=500").await.expect(200);
    assert_eq!(data(&body).len(), 25, "{body}");
}

async fn only_pending_tasks_can_be_cancelled(backend: Backend) {
    // No worker: the first task cannot start before it is cancelled.
    let app = spawn_api_only(backend).await;
    let pending = app.ping(json!({})).await;
    let cancelled = app.cancel(&pending).await.expect(200);
    assert_eq!(cancelled["status"], "cancelled", "{cancelled}");
    assert!(cancelled["finishedAt"].is_string(), "{cancelled}");
    let read = app.task(&pending).await;
    assert_eq!(read["status"], "cancelled", "{read}");
    // Cancelling twice is a conflict, not a silent success.
    app.cancel(&pending).await.expect_problem(409);

    app.cancel("00000000-0000-7000-8000-000000000000")
        .await
        .expect_problem(404);

    // A worker runs the next task; once it has succeeded it cannot be
    // cancelled any more.
    let _worker = app.start_worker("worker-cancel", &[]);
    let done = app.ping(json!({})).await;
    let finished = app.wait_finished(&done).await;
    assert_eq!(finished["status"], "succeeded", "{finished}");
    let detail = app.cancel(&done).await.expect_problem(409);
    assert!(
        detail.contains("succeeded"),
        "the conflict does not say why: {detail}"
    );
    assert_eq!(app.task(&done).await["status"], "succeeded");

    // The worker skipped the cancelled task instead of running it.
    let read = app.task(&pending).await;
    assert_eq!(read["status"], "cancelled", "{read}");
    assert_eq!(read["attempts"], 0, "a cancelled task was run: {read}");
    assert!(read["worker"].is_null(), "a cancelled task was run: {read}");
}
