//! Property tests of the worker's parsers through the entry points the fuzz
//! targets call (`ferry_worker::fuzzing`; docs/SECURITY.md, "Parsers").
//!
//! ferry's Kafka connection talks to a made-up broker whose answers are
//! written here by hand, after Kafka's protocol reference and independently
//! of the kafka-protocol crate: a well-behaved broker's conversation
//! succeeds, one cut short or answering another request fails cleanly, and
//! any bytes at all end in an error, never a panic or a hang. The row-image
//! decoder and the DDL classifier take any bytes and any text. (Round trips
//! of generated rows and statements are unit tests beside each parser.)

use proptest::prelude::*;

use ferry_worker::fuzzing::{ddl, kafka_wire, row_images};

/// A response frame: its length, the correlation id (response header v0),
/// the body.
fn frame(correlation: i32, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(4 + body.len() as i32).to_be_bytes());
    out.extend_from_slice(&correlation.to_be_bytes());
    out.extend_from_slice(body);
    out
}

fn string(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as i16).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// ApiVersions v0: ApiVersions, SaslHandshake 0-1, SaslAuthenticate 0 and
/// IncrementalAlterConfigs 0, so that every later answer is a version 0
/// body with a version 0 header.
fn api_versions() -> Vec<u8> {
    let keys: [(i16, i16, i16); 4] = [(18, 0, 3), (17, 0, 1), (36, 0, 0), (44, 0, 0)];
    let mut body = vec![0, 0];
    body.extend_from_slice(&(keys.len() as i32).to_be_bytes());
    for (key, min, max) in keys {
        for v in [key, min, max] {
            body.extend_from_slice(&v.to_be_bytes());
        }
    }
    body
}

fn handshake(mechanism: &str) -> Vec<u8> {
    let mut body = vec![0, 0];
    body.extend_from_slice(&1i32.to_be_bytes());
    string(&mut body, mechanism);
    body
}

fn authenticate(auth_bytes: &[u8]) -> Vec<u8> {
    let mut body = vec![0, 0, 0xff, 0xff];
    body.extend_from_slice(&(auth_bytes.len() as i32).to_be_bytes());
    body.extend_from_slice(auth_bytes);
    body
}

fn alter_result(error_code: i16) -> Vec<u8> {
    let mut body = 0i32.to_be_bytes().to_vec();
    body.extend_from_slice(&1i32.to_be_bytes());
    body.extend_from_slice(&error_code.to_be_bytes());
    body.extend_from_slice(&(-1i16).to_be_bytes());
    body.push(4);
    string(&mut body, "");
    body
}

/// What a broker answers to a config change: the login byte the fuzz entry
/// takes (0 none, 1 PLAIN), then every frame.
fn conversation(plain: bool, error_code: i16) -> Vec<u8> {
    let mut out = vec![u8::from(plain)];
    out.extend(frame(1, &api_versions()));
    let mut next = 2;
    if plain {
        out.extend(frame(2, &handshake("PLAIN")));
        out.extend(frame(3, &authenticate(b"")));
        next = 4;
    }
    out.extend(frame(next, &alter_result(error_code)));
    out
}

#[test]
fn a_well_behaved_broker_is_understood() {
    assert_eq!(kafka_wire(&conversation(false, 0)), Ok(()));
    assert_eq!(kafka_wire(&conversation(true, 0)), Ok(()));
    let refused = kafka_wire(&conversation(true, 40)).unwrap_err();
    assert!(refused.contains("refused the change"), "{refused}");
}

/// The regression the fuzzer's target was written to catch: rsasl 2.3
/// slices two bytes of every SCRAM attribute it reads; `r=x,s` as the
/// server-first message panicked it (and the worker's task with it).
#[test]
fn a_short_scram_attribute_is_refused_before_rsasl_reads_it() {
    let mut input = vec![2];
    input.extend(frame(1, &api_versions()));
    input.extend(frame(2, &handshake("SCRAM-SHA-256")));
    input.extend(frame(3, &authenticate(b"r=x,s")));
    let error = kafka_wire(&input).unwrap_err();
    assert!(error.contains("malformed SCRAM message"), "{error}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn a_conversation_cut_short_fails_cleanly(
        plain in any::<bool>(),
        cut in any::<prop::sample::Index>(),
    ) {
        let input = conversation(plain, 0);
        let cut = 1 + cut.index(input.len() - 1);
        prop_assert!(kafka_wire(&input[..cut]).is_err());
    }

    #[test]
    fn an_answer_to_another_request_is_refused(plain in any::<bool>(), correlation in 2i32..) {
        let mut input = conversation(plain, 0);
        // The first answer's correlation id, just after the login byte and
        // the frame length.
        input[5..9].copy_from_slice(&correlation.to_be_bytes());
        let error = kafka_wire(&input).unwrap_err();
        prop_assert!(error.contains("another request"), "{}", error);
    }

    #[test]
    fn a_corrupted_conversation_never_panics(
        plain in any::<bool>(),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let mut input = conversation(plain, 0);
        let at = 1 + at.index(input.len() - 1);
        input[at] = byte;
        let _ = kafka_wire(&input);
    }

    #[test]
    fn any_bytes_never_panic(input in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = kafka_wire(&input);
    }

    #[test]
    fn any_bytes_decode_or_fail(input in prop::collection::vec(any::<u8>(), 0..256)) {
        row_images(&input);
    }

    #[test]
    fn any_values_of_every_type_decode_or_fail(
        columns in prop::collection::vec(
            (
                prop::sample::select(vec![
                    0u8, 1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 245,
                    246, 247, 248, 249, 250, 251, 252, 253, 254, 255,
                ]),
                any::<u8>(),
                prop::collection::vec(any::<u8>(), 3),
            ),
            1..8,
        ),
        data in prop::collection::vec(any::<u8>(), 0..128),
        images in 0u8..4,
    ) {
        let mut input = vec![columns.len() as u8 | images << 4];
        for (ty, flags, meta) in &columns {
            input.push(*ty);
            input.push(*flags);
            input.extend_from_slice(&meta[..usize::from((flags >> 3) & 3)]);
        }
        input.extend(data);
        row_images(&input);
    }

    #[test]
    fn any_text_is_classified_without_panicking(sql in any::<String>(), mode in any::<u8>()) {
        let mut input = vec![mode];
        input.extend_from_slice(sql.as_bytes());
        ddl(&input);
    }

    #[test]
    fn any_text_of_ddl_words_is_classified_without_panicking(
        words in prop::collection::vec(
            prop_oneof![
                prop::sample::select(vec![
                    "CREATE", "ALTER", "DROP", "RENAME", "TABLE", "TABLES", "INDEX", "ON", "TO",
                    "AS", "IF", "EXISTS", "NOT", "DATABASE", "k1", "k2", "x", "db", ",", ".",
                    "(", ")", "`", "\"", "'", "/*!", "*/", "--", "\\",
                ]).prop_map(str::to_owned),
                "[A-Za-z_][A-Za-z0-9_$]{0,8}",
            ],
            0..16,
        ),
        mode in any::<u8>(),
    ) {
        let mut input = vec![mode];
        input.extend_from_slice(words.join(" ").as_bytes());
        ddl(&input);
    }
}
