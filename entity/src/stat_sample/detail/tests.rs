use super::*;

fn group() -> GroupSample {
    GroupSample {
        group_id: 7,
        committed: 123_456,
        lag: 12,
    }
}

/// `partitions` partitions on brokers 1001.. with `replicas` replicas each,
/// leader first, the followers a little behind or ahead of their leader.
fn replicated(partitions: i32, replicas: i32) -> Vec<LogSize> {
    (0..partitions)
        .flat_map(|p| {
            (0..replicas).map(move |r| LogSize {
                partition: p,
                broker: 1001 + (p + r) % replicas.max(1),
                bytes: (1 << 30)
                    + i64::from(p) * 4096
                    + i64::from(r) * if p % 2 == 0 { 1 } else { -30 },
            })
        })
        .collect()
}

#[test]
fn leader_first_round_trips() {
    let mut log_sizes = replicated(10, 3);
    // A partition with its leader alone, and one listed in two places:
    // both decode exactly as they were listed.
    log_sizes.push(LogSize {
        partition: 10,
        broker: 1,
        bytes: 0,
    });
    log_sizes.push(LogSize {
        partition: 3,
        broker: 7,
        bytes: i64::MAX,
    });
    log_sizes.push(LogSize {
        partition: 3,
        broker: 8,
        bytes: -1,
    });
    let detail = SampleDetail {
        groups: vec![group()],
        log_sizes,
    };
    let bytes = detail.encode();
    assert_eq!(
        SampleDetail::decode(DetailFormat::LeaderFirst, &bytes).unwrap(),
        detail
    );
    let empty = SampleDetail::default();
    assert_eq!(
        SampleDetail::decode(DetailFormat::CURRENT, &empty.encode()).unwrap(),
        empty
    );
}

#[test]
fn rows_of_the_flat_format_stay_readable() {
    // The bytes migration 9's sampler wrote for this detail.
    let stored = [
        0x01, 0x0e, 0x80, 0x89, 0x0f, 0x18, 0x02, 0x00, 0x02, 0x80, 0x80, 0x80, 0x80, 0x08, 0x02,
        0x04, 0x0a,
    ];
    let detail = SampleDetail::decode(DetailFormat::Flat, &stored).unwrap();
    assert_eq!(
        detail,
        SampleDetail {
            groups: vec![group()],
            log_sizes: vec![
                LogSize {
                    partition: 0,
                    broker: 1,
                    bytes: 1 << 30,
                },
                LogSize {
                    partition: 1,
                    broker: 2,
                    bytes: 5,
                },
            ],
        }
    );
}

/// The bytes ten partitions' log sizes add to a row, which
/// `ferry-bench stats` adds to every stored row to measure storage with
/// log sizes (`LOG_SIZES` in bench/src/sampling/storage.rs): brokers with
/// two-byte ids and sizes around 1 GiB.
#[test]
fn followers_cost_a_few_bytes() {
    let size_of = |format: DetailFormat, replicas: i32| {
        let detail = SampleDetail {
            groups: vec![group()],
            log_sizes: replicated(10, replicas),
        };
        let bare = SampleDetail {
            groups: vec![group()],
            log_sizes: Vec::new(),
        };
        match format {
            DetailFormat::LeaderFirst => detail.encode().len() - bare.encode().len(),
            DetailFormat::Flat => {
                let flat = |d: &SampleDetail| {
                    postcard::to_allocvec(&Flat {
                        groups: d.groups.clone(),
                        log_sizes: d.log_sizes.clone(),
                    })
                    .unwrap()
                    .len()
                };
                flat(&detail) - flat(&bare)
            }
        }
    };
    assert_eq!(size_of(DetailFormat::LeaderFirst, 1), 80);
    assert_eq!(size_of(DetailFormat::LeaderFirst, 3), 160);
    assert_eq!(size_of(DetailFormat::Flat, 1), 80);
    assert_eq!(size_of(DetailFormat::Flat, 3), 240);
}

#[test]
fn broken_details_are_errors() {
    assert!(SampleDetail::decode(DetailFormat::Flat, &[0xff, 0xff]).is_err());
    assert!(SampleDetail::decode(DetailFormat::LeaderFirst, &[0xff, 0xff]).is_err());
    // No groups, no leaders, one follower (step 0, broker 1, delta 0).
    assert!(matches!(
        SampleDetail::decode(DetailFormat::LeaderFirst, &[0, 0, 1, 0, 2, 0]),
        Err(DetailError::FollowerWithoutLeader)
    ));
}
