use chrono::Duration;
use ferry_entity::stat_sample::{DetailFormat, GroupSample, LogSize};

use super::*;

fn query(metric: Metric, start_ago: i64, window: i64) -> (SeriesQuery, DateTime<Utc>) {
    let now = Utc::now();
    let start = now - Duration::seconds(start_ago);
    (
        SeriesQuery {
            cluster_id: ClusterId(1),
            topic: "orders".into(),
            metric,
            start,
            end: start + Duration::seconds(window),
        },
        now,
    )
}

#[test]
fn metric_names_round_trip() {
    for m in Metric::ALL {
        assert_eq!(Metric::parse(m.as_str()), Some(m));
    }
    assert_eq!(Metric::parse("byte_in_rate"), None);
}

#[test]
fn windows_out_of_range_name_the_field() {
    let (q, now) = query(Metric::MessageCount, 91 * 86_400, 3600);
    let err = choose_tier(&q, now).unwrap_err();
    assert!(err.message().contains("startDateTime"), "{}", err.message());
    let (q, now) = query(Metric::MessageCount, 3600, 59);
    assert!(
        choose_tier(&q, now)
            .unwrap_err()
            .message()
            .contains("endDateTime")
    );
    let (q, now) = query(Metric::MessageCount, 40 * 86_400, 31 * 86_400);
    assert!(
        choose_tier(&q, now)
            .unwrap_err()
            .message()
            .contains("endDateTime")
    );
    let (q, now) = query(Metric::MessageCount, 3600, -60);
    assert!(
        choose_tier(&q, now)
            .unwrap_err()
            .message()
            .contains("endDateTime")
    );
}

#[test]
fn the_step_follows_the_window_and_its_age() {
    let tier = |ago, window| {
        let (q, now) = query(Metric::MessageCount, ago, window);
        choose_tier(&q, now).unwrap()
    };
    assert_eq!(tier(3600, 60), Tier::Raw);
    assert_eq!(tier(86_000, 86_000), Tier::Raw);
    assert_eq!(tier(2 * 86_400, 3600), Tier::TenMinutes);
    assert_eq!(tier(7 * 86_400, 7 * 86_400), Tier::TenMinutes);
    assert_eq!(tier(8 * 86_400, 3600), Tier::Hour);
    assert_eq!(tier(30 * 86_400, 30 * 86_400), Tier::Hour);
}

fn sample(
    ts: i64,
    produced: i64,
    committed: i64,
    bytes: Option<f64>,
) -> (stat_sample::Model, SampleDetail) {
    (
        stat_sample::Model {
            cluster_id: 1,
            topic_id: 1,
            tier: Tier::Raw,
            ts,
            messages: produced,
            produced,
            record_bytes: bytes,
            detail: Vec::new(),
            detail_format: DetailFormat::CURRENT,
        },
        SampleDetail {
            groups: vec![GroupSample {
                group_id: 9,
                committed,
                lag: produced - committed,
            }],
            log_sizes: vec![LogSize {
                partition: 0,
                broker: 1,
                bytes: produced * 100,
            }],
        },
    )
}

#[test]
fn rates_are_offset_deltas_times_the_record_size() {
    let (mut q, _) = query(Metric::ByteInRate, 3600, 3600);
    let start = q.start.timestamp() - q.start.timestamp().rem_euclid(10);
    let samples = vec![
        sample(start, 0, 0, Some(100.0)),
        sample(start + 10, 50, 20, None),
        sample(start + 20, 150, 60, None),
    ];
    let names = HashMap::from([(9, "g".to_owned())]);
    let window = (start, start + 3600);
    let data = derive(&q, &samples, &names, 10, window);
    assert_eq!(data.len(), 1);
    assert_eq!(
        data[0].values,
        vec![(start + 10, 500.0), (start + 20, 1000.0)]
    );
    q.metric = Metric::ByteOutRate;
    let data = derive(&q, &samples, &names, 10, window);
    assert_eq!(
        data[0].values,
        vec![(start + 10, 200.0), (start + 20, 400.0)]
    );
    q.metric = Metric::ConsumerLag;
    let data = derive(&q, &samples, &names, 10, window);
    assert_eq!(data[0].labels["consumergroup"], "g");
    assert_eq!(data[0].values.last(), Some(&(start + 20, 90.0)));
    q.metric = Metric::LogSizePerPartition;
    let data = derive(&q, &samples, &names, 10, window);
    assert_eq!(data[0].labels["partition"], "0");
    assert_eq!(data[0].labels["broker"], "1");
    q.metric = Metric::MessageCount;
    // A coarser step keeps the last sample of each step.
    let data = derive(&q, &samples, &names, 3600, window);
    let hour = start - start.rem_euclid(3600);
    assert_eq!(data[0].values.last().unwrap().1, 150.0);
    assert!(
        data[0]
            .values
            .iter()
            .all(|(t, _)| t % 3600 == 0 && *t >= hour)
    );
}
