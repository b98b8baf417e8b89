//! v3 produce (`POST .../topics/{topic}/records`): one record answered as a
//! call, and a chunked stream of records answered by a stream of reports,
//! one per record, in order, each written while the client still sends.

use std::time::Duration;

use ferry_tests::{Backend, Reply, TestApp, kafka::TestKafka};
use serde_json::{Value, json};

use crate::helpers::*;

async fn one_record_is_answered_as_a_call(backend: Backend) {
    let kafka = TestKafka::start().await;
    let app = TestApp::spawn(backend).await;
    let cluster = add_cluster(&app, &kafka).await;
    kafka.create_topic("events", 2).await;
    let path = v3(&cluster, "/topics/events/records");

    let done = app
        .post(
            &path,
            &json!({
                "partition_id": 1,
                "headers": [{ "name": "trace", "value": "YWJj" }],
                "key": { "type": "STRING", "data": "k1" },
                "value": { "type": "JSON", "data": { "n": 1 } },
                "timestamp": "2026-01-02T03:04:05.678Z",
            }),
        )
        .await
        .expect(200);
    assert_eq!(done["error_code"], 200, "{done}");
    assert_eq!(done["cluster_id"], cluster);
    assert_eq!(done["topic_name"], "events");
    assert_eq!(done["partition_id"], 1);
    assert_eq!(done["offset"], 0);
    assert_eq!(done["key"], json!({ "type": "STRING", "size": 2 }));
    assert_eq!(done["value"], json!({ "type": "JSON", "size": 7 }));
    let binary = app
        .post(
            &path,
            &json!({ "value": { "type": "BINARY", "data": "Y29uZmx1ZW50" } }),
        )
        .await
        .expect(200);
    assert_eq!(binary["key"], Value::Null, "{binary}");
    assert_eq!(binary["value"]["size"], 9, "{binary}");

    let records = kafka
        .consume_all("events", 2, Duration::from_secs(20))
        .await;
    assert!(
        records.iter().any(|r| r.partition == 1
            && r.key.as_deref() == Some(b"k1")
            && r.value == br#"{"n":1}"#),
        "{records:?}"
    );
    assert!(
        records.iter().any(|r| r.value == b"confluent"),
        "{records:?}"
    );

    // Refusals keep Confluent's envelope and status.
    let unknown = app
        .post(
            &v3(&cluster, "/topics/nope/records"),
            &json!({ "value": { "data": 1 } }),
        )
        .await;
    expect_error(&unknown, 404, 40401);
    let partition = app
        .post(&path, &json!({ "partition_id": 5, "value": { "data": 1 } }))
        .await;
    expect_error(&partition, 404, 40402);
    let avro = app
        .post(&path, &json!({ "value": { "type": "AVRO", "data": 1 } }))
        .await;
    assert!(expect_error(&avro, 422, 422).contains("schema registry"));
    let bad = app
        .post(
            &path,
            &json!({ "value": { "type": "BINARY", "data": "%%" } }),
        )
        .await;
    assert!(expect_error(&bad, 422, 422).contains("base64"));
}

/// Sends records one chunk at a time and reads each report before sending
/// the next: reports are written while the request is still open.
async fn a_stream_of_records_is_answered_record_by_record(backend: Backend) {
    let kafka = TestKafka::start().await;
    let app = TestApp::spawn(backend).await;
    let cluster = add_cluster(&app, &kafka).await;
    kafka.create_topic("stream", 1).await;
    let path = v3(&cluster, "/topics/stream/records");

    let (tx, rx) = tokio::sync::mpsc::channel::<String>(4);
    let body = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|chunk| (Ok::<_, std::io::Error>(chunk), rx))
    });
    let request = app
        .client
        .post(app.url(&path))
        .bearer_auth(&app.admin_token)
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(body));
    let send = tokio::spawn(request.send());
    let record = |i: usize| {
        if i == 2 {
            // A record the schema refuses: reported, and the stream goes on.
            json!({ "partition_id": "first", "value": { "data": i } })
        } else {
            json!({ "value": { "data": i } })
        }
    };
    tx.send(record(0).to_string()).await.expect("send a record");
    let mut response = tokio::time::timeout(Duration::from_secs(10), send)
        .await
        .expect("answer headers while the stream is open")
        .expect("join")
        .expect("response");
    assert_eq!(response.status().as_u16(), 200);
    let mut reports = String::new();
    for i in 0..5 {
        if i > 0 {
            tx.send(record(i).to_string()).await.expect("send a record");
        }
        // The report of this record arrives before the next is sent.
        while reports.lines().count() <= i {
            let chunk = tokio::time::timeout(Duration::from_secs(10), response.chunk())
                .await
                .expect("a report within 10 s of its record")
                .expect("read a report")
                .expect("the stream ended early");
            reports.push_str(std::str::from_utf8(&chunk).expect("utf-8"));
        }
    }
    drop(tx);
    let rest = response.text().await.expect("the rest of the reports");
    reports.push_str(&rest);

    let lines: Vec<Value> = reports
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON report"))
        .collect();
    assert_eq!(lines.len(), 5, "{reports}");
    let offsets: Vec<i64> = lines
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 2)
        .map(|(_, r)| {
            assert_eq!(r["error_code"], 200, "{reports}");
            r["offset"].as_i64().expect("offset")
        })
        .collect();
    assert_eq!(offsets, vec![0, 1, 2, 3], "{reports}");
    assert_eq!(lines[2]["error_code"], 422, "{reports}");
    let records = kafka
        .consume_all("stream", 4, Duration::from_secs(20))
        .await;
    let values: Vec<&[u8]> = records.iter().map(|r| r.value.as_slice()).collect();
    assert_eq!(values, vec![&b"0"[..], b"1", b"3", b"4"]);

    // A body of several records sent at once is a stream too.
    let many = (0..3)
        .map(|i| json!({ "value": { "data": i } }).to_string())
        .collect::<Vec<_>>()
        .join("\n");
    let reply: Reply = app
        .send_raw(
            reqwest::Method::POST,
            &path,
            Some(&app.admin_token),
            Some("application/json"),
            Some(many),
        )
        .await;
    assert_eq!(reply.status.as_u16(), 200, "{reply}");
    assert_eq!(reply.text.lines().count(), 3, "{reply}");
}

ferry_tests::both_backends!(one_record_is_answered_as_a_call);

#[tokio::test]
async fn a_stream_of_records_is_answered_record_by_record_sqlite() {
    a_stream_of_records_is_answered_record_by_record(Backend::Sqlite).await;
}
