//! One worker samples a cluster at a time (I17); when it dies, its lease
//! runs out and another worker samples the cluster instead.

use std::time::{Duration, Instant};

use ferry_tests::{AppOptions, Backend, FerryProcess, TestApp, both_backends, eventually};

use crate::helpers::{INTERVAL_SECONDS, statistics};

/// The samplers' lease in these tests (3 s is the shortest ferry takes).
const LEASE_SECONDS: u64 = 3;
const TOPIC: &str = "stats-takeover";

/// The cluster's sampler row: its owner and its last sample, epoch ms.
async fn sampler(app: &TestApp, cluster: &str) -> (Option<String>, Option<i64>) {
    let one = |sql: String| async move {
        app.db
            .query_strings(&sql)
            .await
            .into_iter()
            .next()
            .flatten()
    };
    let owner = one(format!(
        "SELECT owner FROM stat_samplers WHERE cluster_id = {cluster}"
    ))
    .await;
    let last = one(format!(
        "SELECT CAST(last_sample_ms AS TEXT) FROM stat_samplers WHERE cluster_id = {cluster}"
    ))
    .await
    .and_then(|v| v.parse().ok());
    (owner, last)
}

async fn a_dead_samplers_cluster_moves_to_the_other_worker(backend: Backend) {
    let kafka = ferry_tests::kafka::TestKafka::start().await;
    let app = TestApp::spawn_with(
        AppOptions::new(backend)
            .without_worker()
            .env("FERRY_RATE_LIMIT__PER_SECOND", "0"),
    )
    .await;
    let interval = INTERVAL_SECONDS.to_string();
    let lease = LEASE_SECONDS.to_string();
    let settings = [
        ("FERRY_STATS__INTERVAL_SECONDS", interval.as_str()),
        ("FERRY_STATS__LEASE_SECONDS", lease.as_str()),
    ];
    let mut workers: Vec<(&str, FerryProcess)> = ["first", "second"]
        .into_iter()
        .map(|name| (name, app.start_worker(name, &settings)))
        .collect();
    kafka.create_topic(TOPIC, 1).await;
    let cluster = app
        .post("/api/v1/clusters", &kafka.registration("takeover"))
        .await
        .expect(201)["id"]
        .as_str()
        .expect("cluster id")
        .to_owned();

    let wait = Duration::from_secs(60);
    let holder = eventually("a worker to sample the cluster", wait, || async {
        match sampler(&app, &cluster).await {
            (Some(owner), Some(_)) => Ok(owner),
            other => Err(other),
        }
    })
    .await;
    let (dead, survivor) = if holder == "first" {
        ("first", "second")
    } else {
        ("second", "first")
    };
    let at = workers
        .iter()
        .position(|(name, _)| *name == dead)
        .expect("the holder is one of the workers");
    workers[at].1.kill();
    let killed = Instant::now();
    let killed_ms = chrono::Utc::now().timestamp_millis();

    // The lease runs out, the survivor's next tick (a third of the lease)
    // claims the cluster, and its sampler samples at the next multiple of
    // the interval; the margin is for a loaded machine.
    let limit = Duration::from_secs(LEASE_SECONDS + INTERVAL_SECONDS as u64 + 10);
    let taken_over_at = eventually(
        "the survivor to sample the cluster",
        limit + wait,
        || async {
            match sampler(&app, &cluster).await {
                (Some(owner), Some(last)) if owner == survivor && last > killed_ms => Ok(last),
                other => Err(other),
            }
        },
    )
    .await;
    let took = killed.elapsed();
    assert!(
        took <= limit,
        "the survivor sampled {took:?} after the holder died; at most {limit:?} expected"
    );

    // Sampling goes on: another sample after the first of the survivor's,
    // and the topic's series has points after the kill.
    eventually("the survivor's next sample", wait, || async {
        match sampler(&app, &cluster).await {
            (Some(owner), Some(last)) if owner == survivor && last > taken_over_at => Ok(()),
            other => Err(other),
        }
    })
    .await;
    let counts = statistics(
        &app,
        &app.admin_token,
        &cluster,
        "MESSAGE_COUNT",
        TOPIC,
        (-300, 60),
    )
    .await
    .expect(200);
    let after_kill = counts["data"][0]["values"].as_array().map_or(0, |values| {
        values
            .iter()
            .filter(|p| {
                p["timestamp"]
                    .as_i64()
                    .is_some_and(|t| t * 1000 > killed_ms)
            })
            .count()
    });
    assert!(
        after_kill >= 2,
        "two samples after the kill expected: {counts}"
    );
}

both_backends!(a_dead_samplers_cluster_moves_to_the_other_worker);
